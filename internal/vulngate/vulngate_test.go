package vulngate

import (
	"strings"
	"testing"
)

const osvA = `{"osv":{"id":"GO-1","summary":"A"}}`

func TestRead(t *testing.T) {
	sym := `{"finding":{"osv":"GO-1","fixed_version":"v0.2.0","trace":[{"module":"m","version":"v0.1.0","package":"m/p","function":"F","receiver":"*T"},{"module":"edge","package":"edge/x","function":"main"}]}}`
	symNoFix := `{"finding":{"osv":"GO-2","trace":[{"module":"n","version":"v1.0.0","package":"n/p","function":"G"}]}}`
	pkg := `{"finding":{"osv":"GO-3","fixed_version":"v2.0.0","trace":[{"module":"o","version":"v1.0.0","package":"o/p"}]}}`
	mod := `{"finding":{"osv":"GO-4","fixed_version":"v2.0.0","trace":[{"module":"o","version":"v1.0.0"}]}}`
	tests := []struct {
		name                     string
		in                       string
		blocking, symbol, pkg, m int
		wantLine                 string
		wantErr                  bool
	}{
		{"empty", `{"config":{"protocol_version":"v1.0.0"}}`, 0, 0, 0, 0, "reachable: 0", false},
		{"reachable with fix blocks", osvA + sym, 1, 1, 0, 0, "GO-1 m@v0.1.0 (fixed in v0.2.0) via m/p.T.F: A", false},
		{"reachable without fix is listed", symNoFix, 0, 1, 0, 0, "GO-2 n@v1.0.0 (no fix) via n/p.G", false},
		{"package and module levels do not block", pkg + mod, 0, 0, 1, 1, "imported but not called: 1, required only: 1", false},
		{"same id at two levels counts once, closest", strings.Replace(pkg, "GO-3", "GO-1", 1) + sym, 1, 1, 0, 0, "reachable: 1 (1 with a fix)", false},
		{"finding without trace", `{"finding":{"osv":"GO-5"}}`, 0, 0, 0, 0, "", true},
		{"not JSON", `{"finding":`, 0, 0, 0, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Read(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Read: err %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got := len(rep.Blocking()); got != tt.blocking {
				t.Errorf("Blocking: %d, want %d", got, tt.blocking)
			}
			if rep.Count(Symbol) != tt.symbol || rep.Count(Package) != tt.pkg || rep.Count(Module) != tt.m {
				t.Errorf("counts symbol/package/module %d/%d/%d, want %d/%d/%d", rep.Count(Symbol), rep.Count(Package), rep.Count(Module), tt.symbol, tt.pkg, tt.m)
			}
			var b strings.Builder
			if err := rep.Write(&b); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), tt.wantLine) {
				t.Errorf("Write:\n%s\nwant a line containing %q", b.String(), tt.wantLine)
			}
		})
	}
}
