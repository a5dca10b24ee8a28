package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.Node tree against the schema, collecting every
// problem instead of stopping at the first.
type decoder struct {
	file      string
	lookupEnv func(string) (string, bool)
	readFile  func(string) (string, error)
	problems  []Problem
	positions map[string]Pos          // where each written value is, by concrete path
	failed    map[string]bool         // paths with a problem, so later checks stay quiet
	secrets   map[string]secretSource // every secret written, by concrete path
	merges    int                     // merge keys expanded so far, bounded by maxMerges
}

// maxMerges bounds merge-key expansion, so a file of merges of merges (a
// "billion laughs") cannot make loading take exponential time.
const maxMerges = 1000

// path names a value twice: concretely for messages (providers.openai.type)
// and as a schema pattern for the support table (providers.*.type).
type path struct{ concrete, schema string }

func (p path) field(name string) path {
	if p.concrete == "" {
		return path{name, name}
	}
	return path{p.concrete + "." + name, p.schema + "." + name}
}

// entry names a user-chosen key; one that would garble a one-line message
// (spaces, control characters) is quoted.
func (p path) entry(key string) path {
	if strings.ContainsFunc(key, func(r rune) bool { return !unicode.IsGraphic(r) || unicode.IsSpace(r) }) {
		key = strconv.Quote(key)
	}
	return path{p.concrete + "." + key, p.schema + ".*"}
}

func (p path) index(i int) path {
	return path{p.concrete + "[" + strconv.Itoa(i) + "]", p.schema + "[]"}
}

func (d *decoder) pos(n *yaml.Node) Pos { return Pos{File: d.file, Line: n.Line, Col: n.Column} }

func (d *decoder) addf(at Pos, p path, format string, args ...any) {
	d.failed[p.concrete] = true
	d.problems = append(d.problems, Problem{Pos: at, Path: p.concrete, Message: fmt.Sprintf(format, args...)})
}

// resolve follows aliases. YAML aliases point only backwards, so this ends.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe says what a node is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		// Never the value itself: a credential pasted one level too high
		// must not end up in an error message.
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "true or false"
		case "!!null":
			return "nothing"
		}
		return "a string"
	}
	return "nothing"
}

func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strconv.Quote(s)
}

// field is one known key of a mapping and how to decode its value.
type field struct {
	name   string
	decode func(v *yaml.Node, p path)
}

// pair is one key and value of a mapping, after merge keys are applied.
type pair struct {
	key  string
	k, v *yaml.Node
}

// pairs lists the entries of mapping n in file order, reporting duplicate
// and non-scalar keys and applying YAML merge keys (<<: *anchor).
func (d *decoder) pairs(n *yaml.Node, p path, depth int) []pair {
	explicit := map[string]*yaml.Node{}
	var out []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		if k.Kind != yaml.ScalarNode {
			d.addf(d.pos(k), p, "expected a plain name as key, got %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			continue
		}
		if first, dup := explicit[k.Value]; dup {
			d.addf(d.pos(k), p.entry(k.Value), "duplicate key %q; first defined at line %d", k.Value, first.Line)
			continue
		}
		explicit[k.Value] = k
	}
	merged := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			continue
		}
		if k.ShortTag() != "!!merge" {
			if explicit[k.Value] == k {
				out = append(out, pair{k.Value, k, v})
			}
			continue
		}
		sources := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			sources = v.Content
		}
		for _, src := range sources {
			src = resolve(src)
			if d.merges++; d.merges > maxMerges {
				if d.merges == maxMerges+1 {
					d.addf(d.pos(src), p, "more than %d merge keys (<<) expanded; simplify the anchors", maxMerges)
				}
				continue
			}
			if depth > 8 {
				d.addf(d.pos(src), p, "merge keys (<<) nest more than 8 deep; simplify the anchors")
				continue
			}
			if src.Kind != yaml.MappingNode {
				d.addf(d.pos(src), p, "a merge key (<<) takes a mapping or a list of mappings, got %s", describe(src))
				continue
			}
			for _, mp := range d.pairs(src, p, depth+1) {
				if explicit[mp.key] == nil && !merged[mp.key] {
					merged[mp.key] = true
					out = append(out, mp)
				}
			}
		}
	}
	return out
}

// mapping checks that n is a mapping and returns its pairs. A null node is an
// empty mapping.
func (d *decoder) mapping(n *yaml.Node, p path) ([]pair, bool) {
	n = resolve(n)
	if isNull(n) {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		d.addf(d.pos(n), p, "expected a mapping, got %s", describe(n))
		return nil, false
	}
	return d.pairs(n, p, 0), true
}

// object decodes a mapping with a fixed set of fields. Unknown fields are
// reported with a suggestion; null values are treated as absent; fields in
// the support table are decoded and then reported as not yet supported.
// It returns false when n is null or not a mapping.
func (d *decoder) object(n *yaml.Node, p path, fields []field) bool {
	ps, ok := d.mapping(n, p)
	if !ok {
		return false
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
outer:
	for _, kv := range ps {
		if p.concrete == "" && strings.HasPrefix(kv.key, "x-") {
			continue // extension keys hold YAML anchors, as in Compose files
		}
		fp := p.field(kv.key)
		for _, f := range fields {
			if f.name != kv.key {
				continue
			}
			if !isNull(kv.v) {
				d.positions[fp.concrete] = d.pos(kv.v)
				f.decode(kv.v, fp)
				if notYetSupported[fp.schema] {
					d.addf(d.pos(kv.k), fp, "%s", unsupportedMessage)
				}
			}
			continue outer
		}
		d.addf(d.pos(kv.k), fp, "%s", unknownMessage("field", kv.key, names, false))
	}
	return true
}

// entries calls fn for each entry of a mapping with user-chosen keys, such as
// providers or models, in file order.
func (d *decoder) entries(n *yaml.Node, p path, fn func(k, v *yaml.Node, p path)) {
	ps, _ := d.mapping(n, p)
	for _, kv := range ps {
		ep := p.entry(kv.key)
		d.positions[ep.concrete] = d.pos(kv.v)
		fn(kv.k, kv.v, ep)
	}
}

// list calls fn for each item of sequence n. A null node is an empty list.
func (d *decoder) list(n *yaml.Node, p path, fn func(item *yaml.Node, p path)) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.addf(d.pos(n), p, "expected a list, got %s", describe(n))
		return
	}
	for i, item := range n.Content {
		ip := p.index(i)
		item = resolve(item)
		d.positions[ip.concrete] = d.pos(item)
		fn(item, ip)
	}
}

// text returns the expanded text of scalar n. want describes the expected
// value for the message when n is not a scalar.
func (d *decoder) text(n *yaml.Node, p path, want string) (string, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.addf(d.pos(n), p, "expected %s, got %s", want, describe(n))
		return "", false
	}
	s, err := expand(n.Value, d.lookupEnv)
	if err != nil {
		d.addf(d.pos(n), p, "%v", err)
		return "", false
	}
	return s, true
}

// parsed decodes a scalar with parse, reporting failures as
// "expected WANT, got VALUE: REASON".
func parsed[T any](d *decoder, n *yaml.Node, p path, want string, parse func(string) (T, error), dst *T) {
	s, ok := d.text(n, p, want)
	if !ok {
		return
	}
	v, err := parse(s)
	var hidden hiddenError
	if errors.As(err, &hidden) {
		d.addf(d.pos(n), p, "%v", hidden.error)
		return
	}
	if err != nil {
		got := quoteShort(s)
		if n := resolve(n); s != n.Value {
			got += " (from " + quoteShort(n.Value) + ")"
		}
		if errors.Is(err, errNoDetail) {
			d.addf(d.pos(n), p, "expected %s, got %s", want, got)
			return
		}
		d.addf(d.pos(n), p, "expected %s, got %s: %v", want, got, err)
		return
	}
	*dst = v
}

// hiddenError is a parse error whose message must not quote the value,
// because the value holds a credential.
type hiddenError struct{ error }

// errNoDetail is a parse error that "expected X, got Y" already says all about.
var errNoDetail = errors.New("no detail")

func (d *decoder) str(n *yaml.Node, p path, dst *string) {
	if s, ok := d.text(n, p, "a string"); ok {
		*dst = s
	}
}

// secret decodes a Secret, replacing a value of exactly file:/path with the
// file's contents.
func (d *decoder) secret(n *yaml.Node, p path, dst *Secret) {
	s, ok := d.text(n, p, "a string")
	if !ok {
		return
	}
	src := secretSource{env: envReference(resolve(n).Value)}
	if name, isFile := strings.CutPrefix(s, "file:"); isFile {
		content, err := d.readFile(name)
		if err != nil {
			d.addf(d.pos(n), p, "cannot read secret file: %v", err)
			return
		}
		s, src = content, secretSource{file: name}
	}
	src.value = Secret(s)
	d.secrets[p.concrete] = src
	*dst = Secret(s)
}

func (d *decoder) boolean(n *yaml.Node, p path, dst *bool) {
	parsed(d, n, p, "true or false", func(s string) (bool, error) {
		switch s {
		case "true", "True", "TRUE":
			return true, nil
		case "false", "False", "FALSE":
			return false, nil
		}
		return false, errNoDetail
	}, dst)
}

// integer decodes a decimal integer in [lo, hi].
func (d *decoder) integer(n *yaml.Node, p path, lo, hi int, dst *int) {
	parsed(d, n, p, "an integer", func(s string) (int, error) {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, errNoDetail
		}
		if err != nil || v < int64(lo) || v > int64(hi) {
			if hi >= math.MaxInt32 && v >= int64(lo) {
				return 0, errors.New("too large")
			}
			if hi >= math.MaxInt32 {
				return 0, fmt.Errorf("must be %d or more", lo)
			}
			return 0, fmt.Errorf("must be between %d and %d", lo, hi)
		}
		return int(v), nil
	}, dst)
}

func (d *decoder) duration(n *yaml.Node, p path, dst *Duration) {
	parsed(d, n, p, "a duration like 30s", ParseDuration, dst)
}

func (d *decoder) size(n *yaml.Node, p path, dst *Size) {
	parsed(d, n, p, "a size like 4MiB", ParseSize, dst)
}

func (d *decoder) price(n *yaml.Node, p path, dst *Price) {
	parsed(d, n, p, "a price in USD per million tokens like 2.50", ParsePrice, dst)
}

func (d *decoder) optPrice(n *yaml.Node, p path, dst **Price) {
	var v Price
	before := len(d.problems)
	d.price(n, p, &v)
	if len(d.problems) == before {
		*dst = &v
	}
}

func (d *decoder) money(n *yaml.Node, p path, dst *Money) {
	parsed(d, n, p, "an amount in USD like 500 or 12.50", ParseMoney, dst)
}

// enum decodes one of valid; what names the kind of value in messages.
func (d *decoder) enum(n *yaml.Node, p path, what string, valid []string, dst *string) {
	s, ok := d.text(n, p, "a string")
	if !ok {
		return
	}
	for _, v := range valid {
		if s == v {
			*dst = s
			return
		}
	}
	d.addf(d.pos(n), p, "%s", unknownMessage(what, s, valid, true))
}

// strs decodes a list of strings; a null value leaves dst nil, an empty list
// makes it empty but not nil.
func (d *decoder) strs(n *yaml.Node, p path, each func(s string, n *yaml.Node, p path)) {
	d.list(n, p, func(item *yaml.Node, ip path) {
		var s string
		before := len(d.problems)
		d.str(item, ip, &s)
		if len(d.problems) == before {
			each(s, item, ip)
		}
	})
}
