package k0sconfig

// image is one k0s system image: repository and tag.
type image struct{ image, version string }

func (i image) json() jsonMap { return jsonMap{"image": i.image, "version": i.version} }

// systemImages are the system images one k0s release defaults to.
type systemImages struct {
	konnectivity, pushgateway, metricsserver, kubeproxy, coredns, pause image
	calicoCNI, calicoNode, calicoKubeControllers                        image
	kuberouterCNI, kuberouterCNIInstaller                               image
	envoy                                                               image
}

// releaseImages are the system images of each k0s release edgeimg pins
// (pkg/constant/constant.go at the release's tag), by k0s version. The
// config API this package builds k0s.yaml with is k0s's 1.33 line, whose
// defaults are 1.33's images; k0s.yaml names the release's own instead,
// so a 1.36 node runs 1.36's kube-proxy, CoreDNS and pause.
func releaseImages() map[string]systemImages {
	const q = "quay.io/k0sproject/"
	return map[string]systemImages{
		"v1.36.3+k0s.2": {
			konnectivity:           image{q + "apiserver-network-proxy-agent", "v0.36.0-k0s.0"},
			pushgateway:            image{q + "pushgateway-ttl", "1.4.0-k0s.2"},
			metricsserver:          image{q + "metrics-server", "v0.9.0-k0s.0"},
			kubeproxy:              image{q + "kube-proxy", "v1.36.3-1"},
			coredns:                image{q + "coredns", "1.14.6-k0s.0"},
			pause:                  image{q + "pause", "3.10.2-0"},
			calicoCNI:              image{q + "calico-cni", "v3.32.1-2"},
			calicoNode:             image{q + "calico-node", "v3.32.1-2"},
			calicoKubeControllers:  image{q + "calico-kube-controllers", "v3.32.1-2"},
			kuberouterCNI:          image{q + "kube-router", "v2.10.0-iptables1.8.13-k0s.1"},
			kuberouterCNIInstaller: image{q + "cni-node", "v1.9.1-k0s.1"},
			envoy:                  image{q + "envoy-distroless", "v1.39.0"},
		},
		"v1.35.7+k0s.0": {
			konnectivity:           image{q + "apiserver-network-proxy-agent", "v0.34.0-k0s.2"},
			pushgateway:            image{q + "pushgateway-ttl", "1.4.0-k0s.0"},
			metricsserver:          image{q + "metrics-server", "v0.8.1-0"},
			kubeproxy:              image{q + "kube-proxy", "v1.35.7"},
			coredns:                image{q + "coredns", "1.14.2-0"},
			pause:                  image{q + "pause", "3.10.1"},
			calicoCNI:              image{q + "calico-cni", "v3.31.4-2"},
			calicoNode:             image{q + "calico-node", "v3.31.4-2"},
			calicoKubeControllers:  image{q + "calico-kube-controllers", "v3.31.4-2"},
			kuberouterCNI:          image{q + "kube-router", "v2.7.1-iptables1.8.11-0"},
			kuberouterCNIInstaller: image{q + "cni-node", "1.8.0-k0s.0"},
			envoy:                  image{q + "envoy-distroless", "v1.37.2"},
		},
		"v1.33.8+k0s.1": {
			konnectivity:           image{q + "apiserver-network-proxy-agent", "v0.32.0"},
			pushgateway:            image{q + "pushgateway-ttl", "1.4.0-k0s.0"},
			metricsserver:          image{q + "metrics-server", "v0.7.2-0"},
			kubeproxy:              image{q + "kube-proxy", "v1.33.8"},
			coredns:                image{q + "coredns", "1.12.4"},
			pause:                  image{q + "pause", "3.10.1"},
			calicoCNI:              image{q + "calico-cni", "v3.29.7-0"},
			calicoNode:             image{q + "calico-node", "v3.29.7-0"},
			calicoKubeControllers:  image{q + "calico-kube-controllers", "v3.29.7-0"},
			kuberouterCNI:          image{q + "kube-router", "v2.5.0-iptables1.8.11-0"},
			kuberouterCNIInstaller: image{q + "cni-node", "1.7.1-k0s.0"},
			envoy:                  image{q + "envoy-distroless", "v1.32.8"},
		},
	}
}

// imagesSpec is spec.images for the release's system images, with the
// default pull policy.
func (s systemImages) imagesSpec(pullPolicy string) jsonMap {
	return jsonMap{
		"default_pull_policy": pullPolicy,
		"konnectivity":        s.konnectivity.json(),
		"pushgateway":         s.pushgateway.json(),
		"metricsserver":       s.metricsserver.json(),
		"kubeproxy":           s.kubeproxy.json(),
		"coredns":             s.coredns.json(),
		"pause":               s.pause.json(),
		"calico": jsonMap{
			"cni":             s.calicoCNI.json(),
			"node":            s.calicoNode.json(),
			"kubecontrollers": s.calicoKubeControllers.json(),
		},
		"kuberouter": jsonMap{
			"cni":          s.kuberouterCNI.json(),
			"cniInstaller": s.kuberouterCNIInstaller.json(),
		},
	}
}
