// Package image registers an Image informer with knative.dev/pkg's
// injection; sharedmain starts it with the others.
package image

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/injection"
	"knative.dev/pkg/logging"

	v1alpha1 "knative.dev/caching/pkg/apis/caching/v1alpha1"
	"knative.dev/caching/pkg/client/injection/client"
	listers "knative.dev/caching/pkg/client/listers/caching/v1alpha1"
)

func init() { injection.Default.RegisterInformer(withInformer) }

// Key is the context key of the informer.
type Key struct{}

// ImageInformer is a shared informer of Images and its lister.
type ImageInformer interface {
	Informer() cache.SharedIndexInformer
	Lister() listers.ImageLister
}

type imageInformer struct{ inf cache.SharedIndexInformer }

func (i *imageInformer) Informer() cache.SharedIndexInformer { return i.inf }
func (i *imageInformer) Lister() listers.ImageLister {
	return listers.NewImageLister(i.inf.GetIndexer())
}

func withInformer(ctx context.Context) (context.Context, controller.Informer) {
	images := func() interface {
		List(context.Context, metav1.ListOptions) (*v1alpha1.ImageList, error)
		Watch(context.Context, metav1.ListOptions) (watch.Interface, error)
	} {
		return client.Get(ctx).CachingV1alpha1().Images(injection.GetNamespaceScope(ctx))
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return images().List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return images().Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &v1alpha1.Image{}, controller.GetResyncPeriod(ctx),
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	return context.WithValue(ctx, Key{}, &imageInformer{inf: inf}), inf
}

// Get returns the informer injected into ctx.
func Get(ctx context.Context) ImageInformer {
	i, ok := ctx.Value(Key{}).(ImageInformer)
	if !ok {
		logging.FromContext(ctx).Panic("unable to fetch knative.dev/caching/pkg/client/injection/informers/caching/v1alpha1/image.ImageInformer from context")
	}
	return i
}
