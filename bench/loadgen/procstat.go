package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// procSample is the CPU time and memory of one process at one instant.
type procSample struct {
	cpu    time.Duration // user + system, all threads
	rssKiB int64         // VmRSS
	hwmKiB int64         // VmHWM, the peak RSS
}

// readProc samples process pid from /proc. The CPU figure has a resolution
// of 1/clockTicks s, so it is only meaningful over runs of seconds.
func readProc(pid int) (procSample, error) {
	var s procSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after its closing parenthesis start at field 3 (state).
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("procstat: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	// utime and stime are fields 14 and 15, i.e. f[11] and f[12].
	if len(f) < 13 {
		return s, fmt.Errorf("procstat: short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("procstat: bad cpu times in /proc/%d/stat", pid)
	}
	s.cpu = time.Duration(ut+st) * time.Second / clockTicks

	status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch k {
		case "VmRSS":
			s.rssKiB = parseKiB(v)
		case "VmHWM":
			s.hwmKiB = parseKiB(v)
		}
	}
	return s, sc.Err()
}

func parseKiB(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
	return n
}

// selfCPU returns the CPU time used so far by this process, at microsecond
// resolution.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakSampler records the largest VmRSS of some processes, sampled every
// interval between start and stop: the RSS while the load lasts (VmHWM is
// the peak since the process started, whatever ran before).
type peakSampler struct {
	peaks []int64 // KiB, by index of the pids given to start
	stop  chan struct{}
	done  chan struct{}
}

func startPeakSampler(pids []int, interval time.Duration) *peakSampler {
	p := &peakSampler{peaks: make([]int64, len(pids)), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			for i, pid := range pids {
				if s, err := readProc(pid); err == nil {
					p.peaks[i] = max(p.peaks[i], s.rssKiB)
				}
			}
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// finish stops the sampler and returns the peaks.
func (p *peakSampler) finish() []int64 {
	if p == nil {
		return nil
	}
	close(p.stop)
	<-p.done
	return p.peaks
}
