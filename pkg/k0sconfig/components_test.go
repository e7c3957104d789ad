package k0sconfig_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/k0sproject/k0s/pkg/config"

	"github.com/edgeimg/edgeimg/pkg/k0sconfig"
)

// TestComponentsMatchK0s keeps Components in step with the list k0s's
// controller checks --disable-components against.
func TestComponentsMatchK0s(t *testing.T) {
	opts := config.ControllerOptions{DisableComponents: k0sconfig.Components()}
	if err := opts.Normalize(); err != nil {
		t.Fatalf("k0s rejects a component edgeimg accepts: %v", err)
	}
	opts = config.ControllerOptions{DisableComponents: []string{"no-such-component"}}
	if err := opts.Normalize(); err == nil {
		t.Fatal("k0s accepted an unknown component: the check above proves nothing")
	}
	usage := config.GetControllerFlags(&config.ControllerOptions{}).Lookup("disable-components").Usage
	m := regexp.MustCompile(`valid items: ([a-z0-9,-]+)`).FindStringSubmatch(usage)
	if m == nil {
		t.Fatalf("cannot find k0s's component list in %q", usage)
	}
	k0s := strings.Split(m[1], ",")
	ours := k0sconfig.Components()
	slices.Sort(k0s)
	slices.Sort(ours)
	if !slices.Equal(k0s, ours) {
		t.Errorf("k0s components %v, edgeimg knows %v", k0s, ours)
	}
}
