package tailbuf

import "strings"

// Buffer is an io.Writer that keeps the last Max bytes written.
type Buffer struct {
	max int
	b   []byte
}

// New returns a Buffer keeping the last max bytes.
func New(max int) *Buffer { return &Buffer{max: max} }

func (t *Buffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

// String is what is kept.
func (t *Buffer) String() string { return string(t.b) }

// Lines is the last n lines kept, without the final newline.
func (t *Buffer) Lines(n int) []string {
	s := strings.TrimRight(string(t.b), "\n")
	if s == "" {
		return nil
	}
	ls := strings.Split(s, "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return ls
}
