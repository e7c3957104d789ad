package tailbuf

import (
	"fmt"
	"slices"
	"testing"
)

func TestBuffer(t *testing.T) {
	tests := []struct {
		name      string
		max       int
		writes    []string
		want      string
		lines     int
		wantLines []string
	}{
		{"empty", 16, nil, "", 3, nil},
		{"fits", 16, []string{"a\n", "b\n"}, "a\nb\n", 3, []string{"a", "b"}},
		{"keeps the end", 6, []string{"first\n", "second\n"}, "econd\n", 3, []string{"econd"}},
		{"last lines", 64, []string{"1\n2\n3\n4\n"}, "1\n2\n3\n4\n", 2, []string{"3", "4"}},
		{"one write larger than max", 4, []string{"abcdefgh"}, "efgh", 1, []string{"efgh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(tt.max)
			for _, w := range tt.writes {
				if n, err := fmt.Fprint(b, w); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if got := b.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if got := b.Lines(tt.lines); !slices.Equal(got, tt.wantLines) {
				t.Errorf("Lines(%d) = %q, want %q", tt.lines, got, tt.wantLines)
			}
		})
	}
}
