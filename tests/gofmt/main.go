// Command gofmtcheck formats cases with Go's own fmt.Sprintf, the reference the event
// recorder's Python formatting is tested against (tests/unit/event_recorder/test_gofmt.py).
//
// It reads one JSON list of cases from stdin, each {"format": "...", "args": [arg, ...]}, and
// writes one JSON list of the formatted strings to stdout. Every arg carries its Go type:
//
//	{"t": "nil"}                          nil
//	{"t": "bool", "v": true}              bool
//	{"t": "int", "v": "-12"}              int (decimal text, so no precision is lost)
//	{"t": "bigint", "v": "1e30 digits"}   *big.Int
//	{"t": "float", "v": "4611686018427387904"}            float64, from its IEEE 754 bits
//	{"t": "complex", "v": ["bits of re", "bits of im"]}    complex128
//	{"t": "string", "v": "x"}             string
//	{"t": "bytes", "v": "base64"}         []byte
//	{"t": "list", "v": [arg, ...]}        []interface{}
//	{"t": "map", "k": "string", "v": [[key, value], ...]}  map[K]interface{}, K one of
//	                                      string, int, float, bool
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os"
	"strconv"
)

type arg struct {
	T string          `json:"t"`
	K string          `json:"k"`
	V json.RawMessage `json:"v"`
}

type testCase struct {
	Format string `json:"format"`
	Args   []arg  `json:"args"`
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "gofmtcheck:", err)
		os.Exit(2)
	}
}

func text(raw json.RawMessage) string {
	var s string
	must(json.Unmarshal(raw, &s))
	return s
}

func float(raw json.RawMessage) float64 {
	bits, err := strconv.ParseUint(text(raw), 10, 64)
	must(err)
	return math.Float64frombits(bits)
}

func integer(raw json.RawMessage) int {
	n, err := strconv.ParseInt(text(raw), 10, 64)
	must(err)
	return int(n)
}

func value(a arg) any {
	switch a.T {
	case "nil":
		return nil
	case "bool":
		var b bool
		must(json.Unmarshal(a.V, &b))
		return b
	case "int":
		return integer(a.V)
	case "bigint":
		n, ok := new(big.Int).SetString(text(a.V), 10)
		if !ok {
			must(fmt.Errorf("bad bigint %s", a.V))
		}
		return n
	case "float":
		return float(a.V)
	case "complex":
		var parts [2]json.RawMessage
		must(json.Unmarshal(a.V, &parts))
		return complex(float(parts[0]), float(parts[1]))
	case "string":
		return text(a.V)
	case "bytes":
		b, err := base64.StdEncoding.DecodeString(text(a.V))
		must(err)
		return b
	case "list":
		var items []arg
		must(json.Unmarshal(a.V, &items))
		out := []any{}
		for _, item := range items {
			out = append(out, value(item))
		}
		return out
	case "map":
		var pairs [][2]arg
		must(json.Unmarshal(a.V, &pairs))
		switch a.K {
		case "string":
			m := map[string]any{}
			for _, p := range pairs {
				m[value(p[0]).(string)] = value(p[1])
			}
			return m
		case "int":
			m := map[int]any{}
			for _, p := range pairs {
				m[value(p[0]).(int)] = value(p[1])
			}
			return m
		case "float":
			m := map[float64]any{}
			for _, p := range pairs {
				m[value(p[0]).(float64)] = value(p[1])
			}
			return m
		case "bool":
			m := map[bool]any{}
			for _, p := range pairs {
				m[value(p[0]).(bool)] = value(p[1])
			}
			return m
		}
	}
	must(fmt.Errorf("unknown arg %+v", a))
	return nil
}

func main() {
	var cases []testCase
	must(json.NewDecoder(os.Stdin).Decode(&cases))
	out := make([]string, 0, len(cases))
	for _, c := range cases {
		args := make([]any, 0, len(c.Args))
		for _, a := range c.Args {
			args = append(args, value(a))
		}
		out = append(out, fmt.Sprintf(c.Format, args...))
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	must(enc.Encode(out))
}
