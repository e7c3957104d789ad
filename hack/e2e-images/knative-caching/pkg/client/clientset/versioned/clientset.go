// Package versioned is the typed clientset of caching.internal.knative.dev.
package versioned

import (
	"context"
	"fmt"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/gentype"
	"k8s.io/client-go/rest"

	v1alpha1 "knative.dev/caching/pkg/apis/caching/v1alpha1"
)

// Interface is the clientset.
type Interface interface {
	Discovery() discovery.DiscoveryInterface
	CachingV1alpha1() CachingV1alpha1Interface
}

// CachingV1alpha1Interface reaches the v1alpha1 resources.
type CachingV1alpha1Interface interface {
	RESTClient() rest.Interface
	Images(namespace string) ImageInterface
}

// ImageInterface reads and writes Images of one namespace.
type ImageInterface interface {
	Create(ctx context.Context, image *v1alpha1.Image, opts metav1.CreateOptions) (*v1alpha1.Image, error)
	Update(ctx context.Context, image *v1alpha1.Image, opts metav1.UpdateOptions) (*v1alpha1.Image, error)
	UpdateStatus(ctx context.Context, image *v1alpha1.Image, opts metav1.UpdateOptions) (*v1alpha1.Image, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*v1alpha1.Image, error)
	List(ctx context.Context, opts metav1.ListOptions) (*v1alpha1.ImageList, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

var (
	scheme         = runtime.NewScheme()
	codecs         = serializer.NewCodecFactory(scheme)
	parameterCodec = runtime.NewParameterCodec(scheme)
)

func init() {
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		panic(err)
	}
}

// Clientset implements Interface.
type Clientset struct {
	discovery *discovery.DiscoveryClient
	caching   *cachingV1alpha1
}

// Discovery is the discovery client.
func (c *Clientset) Discovery() discovery.DiscoveryInterface { return c.discovery }

// CachingV1alpha1 is the v1alpha1 client.
func (c *Clientset) CachingV1alpha1() CachingV1alpha1Interface { return c.caching }

type cachingV1alpha1 struct{ rc rest.Interface }

func (c *cachingV1alpha1) RESTClient() rest.Interface { return c.rc }

func (c *cachingV1alpha1) Images(namespace string) ImageInterface {
	return gentype.NewClientWithList[*v1alpha1.Image, *v1alpha1.ImageList]("images", c.rc, parameterCodec, namespace,
		func() *v1alpha1.Image { return &v1alpha1.Image{} },
		func() *v1alpha1.ImageList { return &v1alpha1.ImageList{} })
}

// NewForConfig creates a clientset for c.
func NewForConfig(c *rest.Config) (*Clientset, error) {
	hc, err := rest.HTTPClientFor(c)
	if err != nil {
		return nil, err
	}
	return NewForConfigAndClient(c, hc)
}

// NewForConfigAndClient creates a clientset for c using the HTTP client hc.
func NewForConfigAndClient(c *rest.Config, hc *http.Client) (*Clientset, error) {
	cfg := rest.CopyConfig(c)
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	gv := v1alpha1.SchemeGroupVersion
	cfg.GroupVersion = &gv
	cfg.APIPath = "/apis"
	cfg.NegotiatedSerializer = codecs.WithoutConversion()
	rc, err := rest.RESTClientForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("caching.internal.knative.dev client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfigAndClient(c, hc)
	if err != nil {
		return nil, err
	}
	return &Clientset{discovery: dc, caching: &cachingV1alpha1{rc: rc}}, nil
}

// NewForConfigOrDie is NewForConfig that panics on an error.
func NewForConfigOrDie(c *rest.Config) *Clientset {
	cs, err := NewForConfig(c)
	if err != nil {
		panic(err)
	}
	return cs
}
