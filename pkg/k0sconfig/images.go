package k0sconfig

import (
	"fmt"
	"sort"
	"strings"

	"github.com/k0sproject/k0s/pkg/airgap"
	"github.com/k0sproject/k0s/pkg/apis/k0s/v1beta1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// imageSlot is one image setting of the cluster config.
type imageSlot struct {
	path string // under spec
	spec **v1beta1.ImageSpec
}

func (c *Config) imageSlots() []imageSlot {
	sp := c.Cluster.Spec
	im := sp.Images
	slots := []imageSlot{
		{"images.konnectivity", &im.Konnectivity},
		{"images.pushgateway", &im.PushGateway},
		{"images.metricsserver", &im.MetricsServer},
		{"images.kubeproxy", &im.KubeProxy},
		{"images.coredns", &im.CoreDNS},
		{"images.pause", &im.Pause},
	}
	if im.Calico != nil {
		slots = append(slots,
			imageSlot{"images.calico.cni", &im.Calico.CNI},
			imageSlot{"images.calico.node", &im.Calico.Node},
			imageSlot{"images.calico.kubecontrollers", &im.Calico.KubeControllers})
	}
	if im.KubeRouter != nil {
		slots = append(slots,
			imageSlot{"images.kuberouter.cni", &im.KubeRouter.CNI},
			imageSlot{"images.kuberouter.cniInstaller", &im.KubeRouter.CNIInstaller})
	}
	if n := sp.Network.NodeLocalLoadBalancing; n != nil && n.EnvoyProxy != nil {
		slots = append(slots, imageSlot{"network.nodeLocalLoadBalancing.envoyProxy.image", &n.EnvoyProxy.Image})
	}
	return slots
}

// checkImages makes sure every image k0s reads is set (a user config can
// null one out, which k0s would only notice by crashing).
func (c *Config) checkImages() error {
	im := c.Cluster.Spec.Images
	if im == nil || im.Calico == nil || im.KubeRouter == nil {
		return fmt.Errorf("%s: spec.images: a k0s image group is null: expected image settings or nothing", userField)
	}
	for _, s := range c.imageSlots() {
		if *s.spec == nil && s.path != "network.nodeLocalLoadBalancing.envoyProxy.image" {
			return fmt.Errorf("%s: spec.%s is null: expected {image, version} or nothing", userField, s.path)
		}
	}
	return nil
}

// SystemImages lists the images of the pods k0s itself runs on this node:
// k0s's airgap.GetImageURIs for the config, minus the images of components
// that do not run (disabled ones, the network provider not chosen,
// konnectivity, which `controller --single` never starts). The pause image
// is always included.
func (c *Config) SystemImages() []string {
	sp := c.Cluster.Spec
	im := sp.Images
	keep := map[string]bool{im.Pause.URI(): true}
	drop := map[string]bool{}
	mark := func(run bool, specs ...*v1beta1.ImageSpec) {
		for _, s := range specs {
			if s == nil {
				continue
			}
			if run {
				keep[s.URI()] = true
			} else {
				drop[s.URI()] = true
			}
		}
	}
	mark(false, im.Konnectivity)
	mark(sp.Network.Provider == "calico" && !c.Disabled("network-provider"), im.Calico.CNI, im.Calico.Node, im.Calico.KubeControllers)
	mark(c.runsKubeRouter(), im.KubeRouter.CNI, im.KubeRouter.CNIInstaller)
	mark(c.runsCoreDNS(), im.CoreDNS)
	mark(c.runsKubeProxy(), im.KubeProxy)
	mark(c.runsMetricsServer(), im.MetricsServer)
	var out []string
	seen := map[string]bool{}
	for _, uri := range airgap.GetImageURIs(sp, false) {
		if seen[uri] || (drop[uri] && !keep[uri]) {
			continue
		}
		seen[uri] = true
		out = append(out, uri)
	}
	return out
}

func (c *Config) runsKubeRouter() bool {
	return c.Cluster.Spec.Network.Provider == providerKubeRouter && !c.Disabled("network-provider")
}

func (c *Config) runsCoreDNS() bool { return !c.Disabled("coredns") }

func (c *Config) runsKubeProxy() bool {
	kp := c.Cluster.Spec.Network.KubeProxy
	return !c.Disabled("kube-proxy") && (kp == nil || !kp.Disabled)
}

func (c *Config) runsMetricsServer() bool { return !c.Disabled("metrics-server") }

// RewriteImages passes every image reference of the config (image:tag, as
// k0s composes it) through f and stores what it returns, which must keep a
// tag (image:tag or image:tag@sha256:...: k0s requires the tag). The airgap
// step uses it to pin system images by digest; Build uses it for
// spec.images.replace. k0s.yaml is rendered and validated again.
func (c *Config) RewriteImages(f func(ref string) (string, error)) error {
	if err := c.checkImages(); err != nil {
		return err
	}
	for _, s := range c.imageSlots() {
		is := *s.spec
		if is == nil {
			continue
		}
		ref := is.URI()
		out, err := f(ref)
		if err != nil {
			return fmt.Errorf("k0s image %s: %w", ref, err)
		}
		if out == ref {
			continue
		}
		image, version, err := splitRef(out)
		if err != nil {
			return fmt.Errorf("k0s image %s: %w", ref, err)
		}
		next := &v1beta1.ImageSpec{Image: image, Version: version}
		if errs := next.Validate(field.NewPath("spec").Child(s.path)); len(errs) > 0 {
			return fmt.Errorf("k0s image %s → %s: %w", ref, out, errs.ToAggregate())
		}
		*s.spec = next
	}
	if c.yaml == nil {
		return nil // Build renders once at the end
	}
	return c.render()
}

// splitRef splits a reference into k0s's image and version (tag, with an
// optional @digest).
func splitRef(ref string) (image, version string, err error) {
	name, digest, hasDigest := strings.Cut(ref, "@")
	i := strings.LastIndex(name, ":")
	if i <= strings.LastIndex(name, "/") || i == len(name)-1 {
		return "", "", fmt.Errorf("%q has no tag: k0s needs image:tag or image:tag@sha256:<digest>", ref)
	}
	image, version = name[:i], name[i+1:]
	if hasDigest {
		version += "@" + digest
	}
	return image, version, nil
}

// replacer applies spec.images.replace: the longest matching prefix wins.
func replacer(replace map[string]string) func(string) (string, error) {
	prefixes := make([]string, 0, len(replace))
	for p := range replace {
		prefixes = append(prefixes, p)
	}
	sort.Slice(prefixes, func(i, j int) bool { return len(prefixes[i]) > len(prefixes[j]) })
	return func(ref string) (string, error) {
		for _, p := range prefixes {
			if strings.HasPrefix(ref, p) {
				return replace[p] + strings.TrimPrefix(ref, p), nil
			}
		}
		return ref, nil
	}
}
