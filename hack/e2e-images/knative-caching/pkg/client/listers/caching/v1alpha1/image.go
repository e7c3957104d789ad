// Package v1alpha1 lists Images from an informer's cache.
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/listers"
	"k8s.io/client-go/tools/cache"

	v1alpha1 "knative.dev/caching/pkg/apis/caching/v1alpha1"
)

// ImageLister lists Images.
type ImageLister interface {
	List(selector labels.Selector) ([]*v1alpha1.Image, error)
	Images(namespace string) ImageNamespaceLister
}

// ImageNamespaceLister lists and gets the Images of one namespace.
type ImageNamespaceLister interface {
	List(selector labels.Selector) ([]*v1alpha1.Image, error)
	Get(name string) (*v1alpha1.Image, error)
}

type imageLister struct {
	listers.ResourceIndexer[*v1alpha1.Image]
}

// NewImageLister lists the Images in indexer.
func NewImageLister(indexer cache.Indexer) ImageLister {
	return &imageLister{listers.New[*v1alpha1.Image](indexer, v1alpha1.Resource("image"))}
}

func (l *imageLister) Images(namespace string) ImageNamespaceLister {
	return listers.NewNamespaced(l.ResourceIndexer, namespace)
}
