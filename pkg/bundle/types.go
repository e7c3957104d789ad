package bundle

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// StagedDir is the default node directory of the staged stacks.
const StagedDir = "/var/lib/edgeimg/staged"

// Bundle is the rendered stack set: live stacks that go straight into the
// manifests dir, and staged stacks promoted later.
type Bundle struct {
	Stacks []*Stack
	Staged []*Stack
	// Site records the address-dependent values, so a node can follow
	// per-device MetalLB addresses (see apply-site.sh); nil without a
	// MetalLB pool.
	Site *Site
}

// Site is what depends on the MetalLB addresses.
type Site struct {
	Addresses []string
	// LBAddress is the address Kourier's LoadBalancer is pinned to.
	LBAddress string
	// DomainFromLB is set when the Knative domain is <LBAddress>.sslip.io.
	DomainFromLB bool
}

// Stack is one directory under k0s's manifests directory (k0spath.Manifests).
type Stack struct {
	Name  string
	Files []*File
	// Gate names what must be Available before a staged stack is promoted:
	// "namespace/deployment" entries. Empty for live stacks.
	Gate []string
	// source labels where the stack's objects come from ("knative-serving
	// 1.23.0", "spec.services").
	source string
}

// File is one *.yaml file of a stack, a list of objects.
type File struct {
	Name    string
	Objects []*unstructured.Unstructured
}

// Object is one object with where it lives, for the steps that inspect or
// rewrite objects in place (the airgap step pins image references).
type Object struct {
	Stack  string
	File   string
	Staged bool
	Obj    *unstructured.Unstructured
}

// Objects lists every object of the bundle; the pointers are live, so a
// caller may rewrite objects before the bundle is written.
func (b *Bundle) Objects() []Object {
	var out []Object
	for _, group := range []struct {
		stacks []*Stack
		staged bool
	}{{b.Stacks, false}, {b.Staged, true}} {
		for _, s := range group.stacks {
			for _, f := range s.Files {
				for _, o := range f.Objects {
					out = append(out, Object{Stack: s.Name, File: f.Name, Staged: group.staged, Obj: o})
				}
			}
		}
	}
	return out
}

// Where names an object for messages: "stack/file: Kind namespace/name".
func (o Object) Where() string {
	ns := o.Obj.GetNamespace()
	if ns != "" {
		ns += "/"
	}
	return o.Stack + "/" + o.File + ": " + o.Obj.GetKind() + " " + ns + o.Obj.GetName()
}
