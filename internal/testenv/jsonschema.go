package testenv

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// Schemas validates JSON values against JSON Schema (draft 2020-12)
// documents, for the keywords the OpenLineage specification uses: type,
// properties, required, additionalProperties, items, enum, allOf, anyOf,
// oneOf, not, $ref (within a document, and to another loaded document by
// its $id) and the formats date-time, uri and uuid; and minItems and
// maxItems, which the Canvas Kit schema uses. A keyword it does not know
// is an error, so a schema it cannot check is never passed silently.
type Schemas struct {
	docs map[string]any // $id -> document
}

// LoadSchemas reads schema documents from files.
func LoadSchemas(paths ...string) (*Schemas, error) {
	s := &Schemas{docs: map[string]any{}}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		id, _ := doc["$id"].(string)
		if id == "" {
			return nil, fmt.Errorf("%s: no $id", p)
		}
		s.docs[id] = doc
	}
	return s, nil
}

// Validate checks v (decoded JSON) against the schema at ref, an $id with
// a JSON pointer fragment: https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent.
func (s *Schemas) Validate(ref string, v any) error {
	schema, base, err := s.resolve(ref, "")
	if err != nil {
		return err
	}
	return s.check(schema, base, v, "$")
}

func (s *Schemas) resolve(ref, base string) (any, string, error) {
	doc, frag, _ := strings.Cut(ref, "#")
	if doc == "" {
		doc = base
	}
	root, ok := s.docs[doc]
	if !ok {
		return nil, "", fmt.Errorf("schema %s is not loaded", doc)
	}
	node := root
	for _, part := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		if part == "" {
			continue
		}
		m, ok := node.(map[string]any)
		if !ok {
			return nil, "", fmt.Errorf("%s: pointer leaves an object", ref)
		}
		if node, ok = m[part]; !ok {
			return nil, "", fmt.Errorf("%s: no %s", ref, part)
		}
	}
	return node, doc, nil
}

var (
	uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	// Annotations carry no constraint.
	annotations = map[string]bool{"description": true, "example": true, "$schema": true, "$id": true, "$defs": true, "title": true}
)

func (s *Schemas) check(schema any, base string, v any, at string) error {
	if b, ok := schema.(bool); ok {
		if !b {
			return fmt.Errorf("%s: not allowed", at)
		}
		return nil
	}
	sc, ok := schema.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: bad schema", at)
	}
	for k, kw := range sc {
		if annotations[k] {
			continue
		}
		var err error
		switch k {
		case "$ref":
			var target any
			var tbase string
			if target, tbase, err = s.resolve(kw.(string), base); err == nil {
				err = s.check(target, tbase, v, at)
			}
		case "type":
			err = checkType(kw, v, at)
		case "enum":
			found := false
			for _, e := range kw.([]any) {
				found = found || fmt.Sprint(e) == fmt.Sprint(v)
			}
			if !found {
				err = fmt.Errorf("%s: %v is not one of %v", at, v, kw)
			}
		case "format":
			err = checkFormat(kw.(string), v, at)
		case "required":
			if m, ok := v.(map[string]any); ok {
				for _, r := range kw.([]any) {
					if _, ok := m[r.(string)]; !ok {
						err = fmt.Errorf("%s: %s is required", at, r)
						break
					}
				}
			}
		case "properties":
			if m, ok := v.(map[string]any); ok {
				for name, ps := range kw.(map[string]any) {
					if pv, ok := m[name]; ok {
						if err = s.check(ps, base, pv, at+"."+name); err != nil {
							break
						}
					}
				}
			}
		case "additionalProperties":
			if m, ok := v.(map[string]any); ok {
				props, _ := sc["properties"].(map[string]any)
				for name, pv := range m {
					if _, declared := props[name]; !declared {
						if err = s.check(kw, base, pv, at+"."+name); err != nil {
							break
						}
					}
				}
			}
		case "items":
			if l, ok := v.([]any); ok {
				for i, e := range l {
					if err = s.check(kw, base, e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
						break
					}
				}
			}
		case "minItems", "maxItems":
			if l, ok := v.([]any); ok {
				n := int(kw.(float64))
				if k == "minItems" && len(l) < n || k == "maxItems" && len(l) > n {
					err = fmt.Errorf("%s: %d items, %s %d", at, len(l), k, n)
				}
			}
		case "allOf":
			for _, sub := range kw.([]any) {
				if err = s.check(sub, base, v, at); err != nil {
					break
				}
			}
		case "anyOf", "oneOf":
			n := 0
			var errs []string
			for _, sub := range kw.([]any) {
				if e := s.check(sub, base, v, at); e == nil {
					n++
				} else {
					errs = append(errs, e.Error())
				}
			}
			if n == 0 || k == "oneOf" && n != 1 {
				err = fmt.Errorf("%s: %s matched %d schemas: %s", at, k, n, strings.Join(errs, "; "))
			}
		case "not":
			if s.check(kw, base, v, at) == nil {
				err = fmt.Errorf("%s: matches a schema it must not", at)
			}
		default:
			err = fmt.Errorf("%s: schema keyword %s is not supported by this validator", at, k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func checkType(kw any, v any, at string) error {
	types := []any{kw}
	if l, ok := kw.([]any); ok {
		types = l
	}
	for _, t := range types {
		switch t {
		case "object":
			if _, ok := v.(map[string]any); ok {
				return nil
			}
		case "array":
			if _, ok := v.([]any); ok {
				return nil
			}
		case "string":
			if _, ok := v.(string); ok {
				return nil
			}
		case "boolean":
			if _, ok := v.(bool); ok {
				return nil
			}
		case "number":
			if _, ok := v.(float64); ok {
				return nil
			}
		case "integer":
			if f, ok := v.(float64); ok && f == float64(int64(f)) {
				return nil
			}
		case "null":
			if v == nil {
				return nil
			}
		}
	}
	return fmt.Errorf("%s: %v is not of type %v", at, v, kw)
}

func checkFormat(format string, v any, at string) error {
	str, ok := v.(string)
	if !ok {
		return nil // formats constrain strings only
	}
	switch format {
	case "date-time":
		if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
			return fmt.Errorf("%s: %q is not a date-time", at, str)
		}
	case "uri":
		if u, err := url.Parse(str); err != nil || u.Scheme == "" {
			return fmt.Errorf("%s: %q is not a URI", at, str)
		}
	case "uuid":
		if !uuidRe.MatchString(str) {
			return fmt.Errorf("%s: %q is not a UUID", at, str)
		}
	default:
		return fmt.Errorf("%s: format %s is not supported by this validator", at, format)
	}
	return nil
}
