package tools

import (
	"strings"
	"testing"
)

func TestParseDpkgStatus(t *testing.T) {
	status := `Package: zstd
Status: install ok installed
Architecture: amd64
Version: 1.5.7+dfsg-1

Package: gone
Status: deinstall ok config-files
Version: 1.0

Package: e2fsprogs
Status: install ok installed
Architecture: amd64
Description: ext2/ext3/ext4 file system utilities
 continuation: line
Version: 1.47.2-3+b12
`
	pk, err := ParseDpkgStatus(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	if len(pk) != 2 || pk[0].Name != "e2fsprogs" || pk[0].Version != "1.47.2-3+b12" || pk[1].Name != "zstd" {
		t.Errorf("packages %+v", pk)
	}
}

func TestSpecKey(t *testing.T) {
	a, b := Spec{Mirror: "http://a", Arch: "amd64"}, Spec{Mirror: "http://b", Arch: "amd64"}
	if a.Key() == b.Key() || a.Key() != (Spec{Mirror: "http://a", Arch: "amd64"}).Key() {
		t.Error("tools key must depend on the mirror and nothing random")
	}
}
