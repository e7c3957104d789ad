package k0sconfig_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// k0sDir is the k0s module's source directory in the module cache.
var k0sDir = sync.OnceValues(func() (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/k0sproject/k0s")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m github.com/k0sproject/k0s: %v: %s", err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
})

// k0sSource reads a file of the k0s module this package is built with.
func k0sSource(t *testing.T, rel string) string {
	t.Helper()
	dir, err := k0sDir()
	if err != nil {
		t.Fatalf("locate the k0s module source: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatalf("k0s module source: %v", err)
	}
	return string(data)
}

// k0sConst returns the value of a string constant declared in a k0s source file.
func k0sConst(t *testing.T, rel, name string) string {
	t.Helper()
	src := k0sSource(t, rel)
	f, err := parser.ParseFile(token.NewFileSet(), rel, src, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", rel, err)
	}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if n.Name != name || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("%s: %s is not a string literal", rel, name)
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatalf("%s: %s: %v", rel, name, err)
				}
				return v
			}
		}
	}
	t.Fatalf("%s: no constant %s", rel, name)
	return ""
}
