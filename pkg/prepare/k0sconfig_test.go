package prepare

import "testing"

func TestShellJoin(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--single", "--data-dir=/var/lib/k0s"}, "--single --data-dir=/var/lib/k0s"},
		{[]string{"--labels=a b"}, "'--labels=a b'"},
		{[]string{""}, "''"},
		{[]string{"it's"}, `'it'\''s'`},
	} {
		if got := shellJoin(tt.args); got != tt.want {
			t.Errorf("shellJoin(%q) = %s, want %s", tt.args, got, tt.want)
		}
	}
}
