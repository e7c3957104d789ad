package spec

import (
	"strconv"
	"time"
)

// Knative Serving's own bounds for the per-revision autoscaling settings
// (knative.dev/serving pkg/apis/autoscaling, and config-defaults'
// container-concurrency-max-limit in knative-serving 1.23.0's
// serving-core.yaml): its webhook refuses a Service outside them.
const (
	KnativeWindowMin         = 6 * time.Second
	KnativeWindowMax         = time.Hour
	KnativeScaleDownDelayMax = time.Hour
	KnativeTargetMin         = 0.01
	// KnativeContainerConcurrencyMax is config-defaults'
	// container-concurrency-max-limit as released.
	KnativeContainerConcurrencyMax = 1000
)

// Metrics are the KPA's scaling metrics (cpu and memory belong to the HPA
// class, which the stack does not ship).
var Metrics = []string{"concurrency", "rps"}

// autoscaling checks a service's scale bounds and KPA settings, each error
// naming its field and the range Knative accepts.
func (v *validator) autoscaling(f string, s Service) {
	if s.MinScale != nil && *s.MinScale < 0 {
		v.add(f+".minScale", "%d: expected 0 or more", *s.MinScale)
	}
	if s.MaxScale != nil {
		switch {
		case *s.MaxScale < 0:
			v.add(f+".maxScale", "%d: expected 0 (unlimited) or more", *s.MaxScale)
		case s.MinScale != nil && *s.MaxScale != 0 && *s.MaxScale < *s.MinScale:
			v.add(f+".maxScale", "%d is below minScale %d: expected 0 (unlimited) or at least minScale", *s.MaxScale, *s.MinScale)
		}
	}
	if s.Target != nil && !(*s.Target >= KnativeTargetMin) {
		v.add(f+".target", "%s: expected more than 0 (Knative's minimum is %g)", strconv.FormatFloat(*s.Target, 'g', -1, 64), KnativeTargetMin)
	}
	switch s.Metric {
	case "", "concurrency", "rps":
	case "cpu", "memory":
		v.add(f+".metric", "%q is a metric of Knative's HPA class, which the stack does not ship: expected concurrency or rps", s.Metric)
	default:
		v.add(f+".metric", "%q: expected concurrency or rps", s.Metric)
	}
	if c := s.ContainerConcurrency; c != nil && (*c < 0 || *c > KnativeContainerConcurrencyMax) {
		v.add(f+".containerConcurrency", "%d: expected 0 (unlimited) to %d (config-defaults container-concurrency-max-limit)", *c, KnativeContainerConcurrencyMax)
	}
	if n := s.InitialScale; n != nil {
		switch {
		case *n < 0:
			v.add(f+".initialScale", "%d: expected 1 or more", *n)
		case *n == 0:
			v.add(f+".initialScale", "0: Knative refuses it while config-autoscaler's allow-zero-initial-scale is false, as released: expected 1 or more (minScale: 0 lets the revision go to zero after it is Ready)")
		case s.MaxScale != nil && *s.MaxScale > 0 && *n > *s.MaxScale:
			v.add(f+".initialScale", "%d is above maxScale %d: expected at most maxScale", *n, *s.MaxScale)
		}
	}
	v.knativeDuration(f+".window", s.Window, KnativeWindowMin, KnativeWindowMax)
	v.knativeDuration(f+".scaleDownDelay", s.ScaleDownDelay, 0, KnativeScaleDownDelayMax)
}

// knativeDuration checks a duration annotation: parsed as Knative parses
// it (time.ParseDuration), within [min, max], in whole seconds.
func (v *validator) knativeDuration(field, s string, min, max time.Duration) {
	if s == "" {
		return
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		v.add(field, "%q: expected a duration such as 30s or 2m", s)
	case d < min || d > max:
		v.add(field, "%s: expected %s to %s (Knative's range)", s, fmtDuration(min), fmtDuration(max))
	case d.Truncate(time.Second) != d:
		v.add(field, "%s: expected whole seconds (Knative refuses a finer precision)", s)
	}
}

func fmtDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	default:
		return d.String()
	}
}
