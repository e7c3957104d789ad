package vulngate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Level says how close a finding is to edgeimg's code.
type Level int

const (
	// Module: a required module has the vulnerability; its package is not imported.
	Module Level = iota
	// Package: a vulnerable package is imported, its vulnerable symbols not called.
	Package
	// Symbol: a vulnerable function is reachable from edgeimg's code.
	Symbol
)

func (l Level) String() string {
	return [...]string{"module", "package", "symbol"}[l]
}

// Finding is one vulnerability, at the closest level govulncheck saw it.
type Finding struct {
	ID      string
	Summary string
	Module  string
	Version string
	Fixed   string // "" when no fixed version exists
	Level   Level
	Call    string // for Symbol: the vulnerable function, as pkg.Func
}

// Report is the verdict over a govulncheck run.
type Report struct {
	Findings []Finding // one per vulnerability ID, sorted by level (symbol first), then ID
}

// Blocking returns the reachable findings that have a fix.
func (r Report) Blocking() []Finding {
	var b []Finding
	for _, f := range r.Findings {
		if f.Level == Symbol && f.Fixed != "" {
			b = append(b, f)
		}
	}
	return b
}

// Count returns how many findings are at level l.
func (r Report) Count(l Level) int {
	n := 0
	for _, f := range r.Findings {
		if f.Level == l {
			n++
		}
	}
	return n
}

type message struct {
	OSV *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
	Finding *struct {
		OSV          string `json:"osv"`
		FixedVersion string `json:"fixed_version"`
		Trace        []struct {
			Module   string `json:"module"`
			Version  string `json:"version"`
			Package  string `json:"package"`
			Function string `json:"function"`
			Receiver string `json:"receiver"`
		} `json:"trace"`
	} `json:"finding"`
}

// Read parses govulncheck's `-format json` stream.
func Read(r io.Reader) (Report, error) {
	dec := json.NewDecoder(r)
	summaries := map[string]string{}
	byID := map[string]*Finding{}
	for {
		var m message
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Report{}, fmt.Errorf("govulncheck JSON: %w", err)
		}
		if m.OSV != nil {
			summaries[m.OSV.ID] = m.OSV.Summary
		}
		if m.Finding == nil {
			continue
		}
		fd := m.Finding
		if fd.OSV == "" || len(fd.Trace) == 0 {
			return Report{}, fmt.Errorf("govulncheck JSON: finding without osv id or trace: expected both")
		}
		top := fd.Trace[0]
		f := Finding{ID: fd.OSV, Module: top.Module, Version: top.Version, Fixed: fd.FixedVersion, Level: Module}
		switch {
		case top.Function != "":
			f.Level = Symbol
			name := top.Function
			if top.Receiver != "" {
				name = strings.TrimPrefix(top.Receiver, "*") + "." + name
			}
			f.Call = top.Package + "." + name
		case top.Package != "":
			f.Level = Package
		}
		if old, ok := byID[f.ID]; !ok || f.Level > old.Level {
			byID[f.ID] = &f
		}
	}
	var rep Report
	for _, f := range byID {
		f.Summary = summaries[f.ID]
		rep.Findings = append(rep.Findings, *f)
	}
	sort.Slice(rep.Findings, func(i, j int) bool {
		a, b := rep.Findings[i], rep.Findings[j]
		if a.Level != b.Level {
			return a.Level > b.Level
		}
		return a.ID < b.ID
	})
	return rep, nil
}

// Write prints the reachable findings, one line each, and a summary line.
func (r Report) Write(w io.Writer) error {
	for _, f := range r.Findings {
		if f.Level != Symbol {
			continue
		}
		fix := "no fix"
		if f.Fixed != "" {
			fix = "fixed in " + f.Fixed
		}
		if _, err := fmt.Fprintf(w, "%s %s@%s (%s) via %s: %s\n", f.ID, f.Module, f.Version, fix, f.Call, f.Summary); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "reachable: %d (%d with a fix), imported but not called: %d, required only: %d\n",
		r.Count(Symbol), len(r.Blocking()), r.Count(Package), r.Count(Module))
	return err
}
