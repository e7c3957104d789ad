package k0sconfig

import (
	"fmt"
	"slices"
	"strings"

	"github.com/k0sproject/k0s/pkg/constant"

	"github.com/edgeimg/edgeimg/pkg/spec"
)

// Components returns the names `k0s controller --disable-components`
// accepts (k0s pkg/config availableComponents; a test keeps the two in step).
func Components() []string { return slices.Clone(components) }

var components = []string{
	constant.ApplierManagerComponentName,
	constant.AutopilotComponentName,
	constant.ControlAPIComponentName,
	constant.CoreDNSComponentname,
	constant.CsrApproverComponentName,
	constant.APIEndpointReconcilerComponentName,
	constant.HelmComponentName,
	constant.KonnectivityServerComponentName,
	constant.KubeControllerManagerComponentName,
	constant.KubeProxyComponentName,
	constant.KubeSchedulerComponentName,
	constant.MetricsServerComponentName,
	constant.NetworkProviderComponentName,
	constant.NodeRoleComponentName,
	constant.SystemRBACComponentName,
	constant.UpdateProberComponentName,
	constant.WindowsNodeComponentName,
	constant.WorkerConfigComponentName,
}

// required are components edgeimg's node cannot work without.
var required = map[string]string{
	constant.ApplierManagerComponentName: "it applies the manifest stacks (Knative, Kourier, MetalLB) from <data-dir>/manifests",
	constant.WorkerConfigComponentName:   "the single node's kubelet reads its configuration, reservations included, from it",
}

// checkDisabledComponents validates spec.k0s.disableComponents against
// k0s's own list and returns them without duplicates, in order.
func checkDisabledComponents(names []string) ([]string, error) {
	var out []string
	for i, n := range names {
		field := fmt.Sprintf("spec.k0s.disableComponents[%d]", i)
		if !slices.Contains(components, n) {
			return nil, &spec.FieldError{Field: field, Msg: fmt.Sprintf("%q is not a k0s component: expected one of %s", n, strings.Join(components, ", "))}
		}
		if why, ok := required[n]; ok {
			return nil, &spec.FieldError{Field: field, Msg: fmt.Sprintf("%q cannot be disabled: %s", n, why)}
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}
