// Package v1alpha1 is the caching.internal.knative.dev/v1alpha1 API: the
// Image objects Knative Serving creates so an image-caching extension can
// keep a Revision's images on the nodes.
package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

// SchemeGroupVersion is the API's group and version.
var SchemeGroupVersion = schema.GroupVersion{Group: "caching.internal.knative.dev", Version: "v1alpha1"}

// Kind qualifies a kind with the API group.
func Kind(kind string) schema.GroupKind { return SchemeGroupVersion.WithKind(kind).GroupKind() }

// Resource qualifies a resource with the API group.
func Resource(resource string) schema.GroupResource {
	return SchemeGroupVersion.WithResource(resource).GroupResource()
}

var (
	// SchemeBuilder registers the API's types.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the API's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion, &Image{}, &ImageList{})
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}

// Image is an image a caching extension should keep on the nodes.
type Image struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ImageSpec   `json:"spec,omitempty"`
	Status            ImageStatus `json:"status,omitempty"`
}

// ImageSpec names the image and how to pull it.
type ImageSpec struct {
	Image              string                        `json:"image"`
	ServiceAccountName string                        `json:"serviceAccountName,omitempty"`
	ImagePullSecrets   []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
}

// ImageStatus is the duck-typed Knative status.
type ImageStatus struct {
	duckv1.Status `json:",inline"`
}

// ImageList is a list of Images.
type ImageList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []Image `json:"items"`
}

// DeepCopyInto copies in into out.
func (in *Image) DeepCopyInto(out *Image) {
	*out = *in
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	in.Spec.DeepCopyInto(&out.Spec)
	in.Status.Status.DeepCopyInto(&out.Status.Status)
}

// DeepCopy returns a deep copy.
func (in *Image) DeepCopy() *Image {
	if in == nil {
		return nil
	}
	out := new(Image)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *Image) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopyInto copies in into out.
func (in *ImageSpec) DeepCopyInto(out *ImageSpec) {
	*out = *in
	if in.ImagePullSecrets != nil {
		out.ImagePullSecrets = append([]corev1.LocalObjectReference(nil), in.ImagePullSecrets...)
	}
}

// DeepCopyInto copies in into out.
func (in *ImageList) DeepCopyInto(out *ImageList) {
	*out = *in
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]Image, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a deep copy.
func (in *ImageList) DeepCopy() *ImageList {
	if in == nil {
		return nil
	}
	out := new(ImageList)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *ImageList) DeepCopyObject() runtime.Object { return in.DeepCopy() }
