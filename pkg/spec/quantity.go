package spec

import (
	"fmt"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Quantity is a Kubernetes resource quantity ("500m", "1.5Gi") that
// remembers whether it was set at all.
type Quantity struct {
	q   resource.Quantity
	set bool
}

// quantityForm is what error messages say a quantity looks like.
const quantityForm = "a Kubernetes quantity such as 500m, 1, 512Mi or 1.5Gi"

// ParseQuantity parses s, which must be a valid Kubernetes quantity.
func ParseQuantity(s string) (Quantity, error) {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return Quantity{}, fmt.Errorf("%q is not %s", s, quantityForm)
	}
	if q.Sign() < 0 {
		return Quantity{}, fmt.Errorf("%q is negative: expected %s", s, quantityForm)
	}
	return Quantity{q: q, set: true}, nil
}

// MustQuantity is ParseQuantity for constants; it panics on a bad literal.
func MustQuantity(s string) Quantity {
	q, err := ParseQuantity(s)
	if err != nil {
		panic(err)
	}
	return q
}

// Milli returns a quantity of m thousandths (CPU millicores).
func Milli(m int64) Quantity {
	return Quantity{q: *resource.NewMilliQuantity(m, resource.DecimalSI), set: true}
}

// Bytes returns a quantity of b bytes, printed with binary suffixes.
func Bytes(b int64) Quantity {
	return Quantity{q: *resource.NewQuantity(b, resource.BinarySI), set: true}
}

// IsSet reports whether the quantity was given.
func (q Quantity) IsSet() bool { return q.set }

// MilliValue is the quantity in thousandths (CPU millicores).
func (q Quantity) MilliValue() int64 { return q.q.MilliValue() }

// Value is the quantity rounded up to an integer (bytes for memory).
func (q Quantity) Value() int64 { return q.q.Value() }

// Kube returns the Kubernetes form.
func (q Quantity) Kube() resource.Quantity { return q.q.DeepCopy() }

// String prints the canonical form, or "" when unset.
func (q Quantity) String() string {
	if !q.set {
		return ""
	}
	return q.q.String()
}

// MarshalYAML writes the canonical string form.
func (q Quantity) MarshalYAML() (any, error) {
	if !q.set {
		return nil, nil
	}
	return q.q.String(), nil
}

// IsZero lets yaml omit unset quantities.
func (q Quantity) IsZero() bool { return !q.set }

// UnmarshalYAML accepts a scalar (string or number).
func (q *Quantity) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected %s, got a %s", quantityForm, kindName(n))
	}
	if n.Tag == "!!null" {
		*q = Quantity{}
		return nil
	}
	p, err := ParseQuantity(n.Value)
	if err != nil {
		return err
	}
	*q = p
	return nil
}

// Cmp compares two quantities exactly (no int64 overflow): -1, 0 or 1.
func (q Quantity) Cmp(o Quantity) int { return q.q.Cmp(o.q) }
