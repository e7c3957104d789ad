package k0sconfig_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/k0sproject/k0s/pkg/apis/k0s/v1beta1"

	"github.com/edgeimg/edgeimg/pkg/k0sbin"
	"github.com/edgeimg/edgeimg/pkg/k0sconfig"
)

// TestReleaseImages: k0s.yaml names each catalog release's own system
// images (kube-proxy of its Kubernetes), read back and validated by k0s;
// for the 1.33 release they are the config API module's defaults, so its
// k0s.yaml is what it was.
func TestReleaseImages(t *testing.T) {
	for _, r := range k0sbin.Releases() {
		t.Run(r.K0s, func(t *testing.T) {
			d := parseSpec(t, header+"spec:\n  k0s:\n    version: "+r.K0s+"\n")
			d.ApplyDefaults()
			c, err := k0sconfig.Build(d, k0sconfig.Reservations{})
			if err != nil {
				t.Fatal(err)
			}
			out, _ := c.YAML()
			back, err := v1beta1.ConfigFromBytes(out)
			if err != nil {
				t.Fatal(err)
			}
			im := back.Spec.Images
			if kp := im.KubeProxy.Version; !strings.HasPrefix(kp, "v"+r.Kubernetes) {
				t.Errorf("kube-proxy %s, want Kubernetes %s's", kp, r.Kubernetes)
			}
			if r.KubernetesMinor() == "1.33" {
				want := v1beta1.DefaultClusterImages()
				want.DefaultPullPolicy = im.DefaultPullPolicy
				if !reflect.DeepEqual(im, want) {
					t.Errorf("1.33 images differ from the module's defaults:\n%s", out)
				}
			}
			if r.KubernetesMinor() == "1.36" && im.Pause.URI() != "quay.io/k0sproject/pause:3.10.2-0" {
				t.Errorf("pause %s", im.Pause.URI())
			}
		})
	}
}
