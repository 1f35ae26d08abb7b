package testenv

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
)

// OpenAPIExcerpt copies out of an OpenAPI description (YAML) the schemas
// named in roots and every schema they reference, transitively. Each keeps
// its path (components/schemas/<name>) and its text, so its $refs resolve
// in the excerpt as in the original; LoadSchemas reads the result under
// id. header becomes the excerpt's leading comment lines, followed by the
// names of schemas referenced but absent from the description (such
// $refs are left as they are: validating a value that reaches one fails).
func OpenAPIExcerpt(description []byte, id, header string, roots ...string) ([]byte, error) {
	var doc struct {
		Components struct {
			Schemas map[string]any `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(description, &doc); err != nil {
		return nil, fmt.Errorf("parse OpenAPI description: %w", err)
	}
	all := doc.Components.Schemas
	keep := map[string]any{}
	var missing []string
	queue := append([]string(nil), roots...)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if _, done := keep[name]; done {
			continue
		}
		s, ok := all[name]
		if !ok {
			if !slices.Contains(missing, name) {
				missing = append(missing, name)
			}
			continue
		}
		keep[name] = s
		refs, err := schemaRefs(s)
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		queue = append(queue, refs...)
	}
	body, err := yaml.MarshalWithOptions(map[string]any{
		"$id":        id,
		"components": map[string]any{"schemas": keep},
	}, yaml.Indent(2), yaml.UseLiteralStyleIfMultiline(true))
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		header = strings.TrimRight(header, "\n") + "\n\nReferenced but absent from the description (left dangling): " + strings.Join(missing, ", ")
	}
	var out bytes.Buffer
	for _, line := range strings.Split(strings.TrimRight(header, "\n"), "\n") {
		out.WriteString(strings.TrimRight("# "+line, " ") + "\n")
	}
	out.Write(body)
	return out.Bytes(), nil
}

// schemaRefs lists the names of the schemas v references, in order.
func schemaRefs(v any) ([]string, error) {
	var out []string
	var walk func(any) error
	walk = func(v any) error {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if k == "$ref" {
					ref, _ := x[k].(string)
					name, ok := strings.CutPrefix(ref, "#/components/schemas/")
					if !ok {
						return fmt.Errorf("$ref %q is not to components/schemas", ref)
					}
					out = append(out, name)
					continue
				}
				if err := walk(x[k]); err != nil {
					return err
				}
			}
		case []any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return out, walk(v)
}
