// Package client registers the caching clientset with knative.dev/pkg's
// injection.
package client

import (
	"context"

	"k8s.io/client-go/rest"
	"knative.dev/pkg/injection"
	"knative.dev/pkg/logging"

	"knative.dev/caching/pkg/client/clientset/versioned"
)

func init() {
	injection.Default.RegisterClient(withClientFromConfig)
	injection.Default.RegisterClientFetcher(func(ctx context.Context) interface{} { return Get(ctx) })
}

// Key is the context key of the clientset.
type Key struct{}

func withClientFromConfig(ctx context.Context, cfg *rest.Config) context.Context {
	return context.WithValue(ctx, Key{}, versioned.NewForConfigOrDie(cfg))
}

// Get returns the clientset injected into ctx.
func Get(ctx context.Context) versioned.Interface {
	cs, ok := ctx.Value(Key{}).(versioned.Interface)
	if !ok {
		logging.FromContext(ctx).Panic("unable to fetch knative.dev/caching/pkg/client/clientset/versioned.Interface from context")
	}
	return cs
}
