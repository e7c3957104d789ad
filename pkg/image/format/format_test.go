package format_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/edgeimg/edgeimg/pkg/image/format"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// TestSpecAgrees: the spec validates spec.output.formats against its own
// list (pkg/spec sits below the writers and does not import them) and
// documents them in the field's doc tag; both must name exactly the
// registry's formats.
func TestSpecAgrees(t *testing.T) {
	reg := slices.Sorted(slices.Values(format.Names()))
	if got := slices.Sorted(slices.Values(spec.Formats)); !slices.Equal(got, reg) {
		t.Errorf("spec.Formats = %v, the registry has %v", got, reg)
	}
	f, ok := reflect.TypeOf(spec.Output{}).FieldByName("Formats")
	if !ok {
		t.Fatal("spec.Output has no Formats field")
	}
	doc := f.Tag.Get("doc")
	_, list, _ := strings.Cut(doc, ": ")
	var named []string
	for _, n := range strings.Split(list, ",") {
		named = append(named, strings.TrimSpace(n))
	}
	if slices.Sort(named); !slices.Equal(named, reg) {
		t.Errorf("spec.output.formats doc tag names %v, the registry has %v", named, reg)
	}
}
