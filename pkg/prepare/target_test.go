package prepare

import (
	"strings"
	"testing"

	"github.com/edgeimg/edgeimg/pkg/spec"
)

func TestResolveTarget(t *testing.T) {
	tests := []struct {
		board, specPlatform, platform string
		want                          string // platform arch, or an error
	}{
		{"x86_64-efi", "", "", "linux/amd64 amd64"},
		{"rpi4", "", "", "linux/arm64 arm64"},
		{"rpi4", "linux/arm/v7", "", "linux/arm/v7 arm64"},
		{"rpi4", "linux/arm/v7", "linux/arm64", "linux/arm64 arm64"},
		{"x86_64-efi", "", "linux/arm64", "linux/arm64 amd64"},
		{"pi9", "", "", "unknown board"},
		{"rpi5", "", "", "not supported"},
	}
	for _, tt := range tests {
		d := spec.Default()
		d.Spec.Board, d.Spec.Images.Platform = tt.board, tt.specPlatform
		tg, err := ResolveTarget(d, tt.platform)
		got := tg.Platform + " " + tg.Arch
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tt.want) {
			t.Errorf("%s %q %q: %s, want %s", tt.board, tt.specPlatform, tt.platform, got, tt.want)
		}
		if err == nil && tg.Board.Name != tt.board {
			t.Errorf("%s: board %s", tt.board, tg.Board.Name)
		}
	}
}
