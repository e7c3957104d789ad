// A minimal stand-in for knative.dev/caching, which the Go module proxy does
// not serve at any version: just the API knative.dev/serving's controller
// compiles against (the Image type, a typed client, a lister, the injection
// client and informer). hack/e2e-images.sh points serving's go.mod at it
// with a replace directive. The requirements are those serving pins, so
// they change none of its dependency versions.
module knative.dev/caching

go 1.24.0

require (
	k8s.io/api v0.34.2
	k8s.io/apimachinery v0.34.2
	k8s.io/client-go v0.34.2
	knative.dev/pkg v0.0.0-20251126013532-e853b1d1d6bb
)
