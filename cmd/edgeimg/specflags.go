package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/edgeimg/edgeimg/pkg/prepare"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// specFlags are the flags of every command that reads a spec: -f, --set,
// --dry-run and one flag per spec field (spec.Fields).
func specFlags() []cli.Flag {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "spec file (default: the embedded default spec)", EnvVars: []string{"EDGEIMG_SPEC"}},
		&cli.StringSliceFlag{Name: "set", Usage: "set any spec field: PATH=VALUE, repeatable; a list field takes a comma-separated VALUE (e.g. services[0].image=..., metallb.addresses=10.0.0.1,10.0.0.2)"},
		&cli.StringFlag{Name: "k0s-config", Usage: "file with a k0s ClusterConfig (or its spec) merged into k0s.config"},
		&cli.BoolFlag{Name: "dry-run", Usage: "print the fully defaulted spec and what would be done, change nothing"},
	}
	for _, f := range spec.Fields() {
		usage := f.Doc + " (spec." + f.Path + ")"
		switch {
		case f.List:
			flags = append(flags, &cli.StringSliceFlag{Name: f.Flag, Usage: usage + ", comma-separated or repeated", Category: "Spec"})
		case f.Map:
			flags = append(flags, &cli.StringSliceFlag{Name: f.Flag, Usage: usage + ", KEY=VALUE, repeated (commas stay in VALUE)", Category: "Spec"})
		case f.Bool:
			flags = append(flags, &cli.BoolFlag{Name: f.Flag, Usage: usage, Category: "Spec"})
		default:
			flags = append(flags, &cli.StringFlag{Name: f.Flag, Usage: usage, Category: "Spec"})
		}
	}
	return flags
}

// loadSpec reads -f (or the embedded default), applies the spec flags and
// --set in that order, defaults and validates.
func loadSpec(c *cli.Context) (*spec.Document, error) {
	d, err := spec.Load(c.String("file"))
	if err != nil {
		return nil, err
	}
	for _, f := range spec.Fields() {
		if !c.IsSet(f.Flag) {
			continue
		}
		switch {
		case f.List:
			err = d.Set(f.Path, strings.Join(c.StringSlice(f.Flag), ","))
		case f.Map:
			for _, kv := range c.StringSlice(f.Flag) {
				if err = d.Set(f.Path, kv); err != nil {
					break
				}
			}
		case f.Bool:
			err = d.Set(f.Path, fmt.Sprint(c.Bool(f.Flag)))
		default:
			err = d.Set(f.Path, c.String(f.Flag))
		}
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", f.Flag, err)
		}
	}
	for _, kv := range c.StringSlice("set") {
		path, value, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--set %q: expected PATH=VALUE", kv)
		}
		if err := d.Set(path, value); err != nil {
			return nil, fmt.Errorf("--set: %w", err)
		}
	}
	if p := c.String("k0s-config"); p != "" {
		if err := d.SetK0sConfigFile(p); err != nil {
			return nil, fmt.Errorf("--k0s-config: %w", err)
		}
	}
	d.ApplyDefaults()
	cat, err := prepare.Catalog()
	if err != nil {
		return nil, err
	}
	if err := errors.Join(d.Validate(), d.ValidateCatalog(cat)); err != nil {
		name := c.String("file")
		if name == "" {
			name = "spec"
		}
		return nil, fmt.Errorf("%s is invalid:\n%w", name, indent(err))
	}
	return d, nil
}

// printSpecIfDryRun prints the defaulted spec for --dry-run and reports
// whether it did; commands that show more of what they would do go on.
func printSpecIfDryRun(c *cli.Context, d *spec.Document) (bool, error) {
	if !c.Bool("dry-run") {
		return false, nil
	}
	data, err := d.Marshal()
	if err != nil {
		return true, err
	}
	fmt.Fprintf(c.App.Writer, "# fully defaulted spec\n%s", data)
	return true, nil
}

// dryRunImages is what the images commands do under --dry-run: print the
// defaulted spec and the images they would pull, touching no registry and
// writing nothing.
func dryRunImages(next cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		if !c.Bool("dry-run") {
			return next(c)
		}
		d, err := loadSpec(c)
		if err != nil {
			return err
		}
		if _, err := printSpecIfDryRun(c, d); err != nil {
			return err
		}
		fmt.Fprintln(c.App.Writer, "# images that would be pulled")
		return imagesList(c)
	}
}

// commaList is a repeatable flag whose values are comma-separated lists
// (the App does not split them: see DisableSliceFlagSeparator), split,
// trimmed, empty items dropped.
func commaList(c *cli.Context, name string) []string {
	var out []string
	for _, v := range c.StringSlice(name) {
		for _, x := range strings.Split(v, ",") {
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, x)
			}
		}
	}
	return out
}

type indented struct{ err error }

func (i indented) Error() string {
	return "  " + strings.ReplaceAll(i.err.Error(), "\n", "\n  ")
}
func (i indented) Unwrap() error { return i.err }

func indent(err error) error { return indented{err} }
