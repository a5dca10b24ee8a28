# airgw development loop. `make check` runs what CI runs.
GO ?= go

.PHONY: test check vet fmt build bench-quick generate

# The test command: every package, race detector on.
test:
	$(GO) test -race -count=1 ./...

build:
	$(GO) build -o bin/airgw ./cmd/airgw

vet:
	$(GO) vet ./...

# fmt fails when any Go file is not gofmt'd.
fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

check: fmt vet test

generate:
	$(GO) generate ./...

bench-quick:
	QUICK=1 bench/run.sh
