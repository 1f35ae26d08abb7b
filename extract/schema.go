package extract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// Type is the type of a landed column, taken from the source's own
// metadata (Salesforce describe, Intercom's documented object shapes and
// data attributes).
type Type string

// Column types. The DuckDB type of each is DuckDBType.
const (
	String    Type = "string"    // VARCHAR
	Integer   Type = "integer"   // BIGINT
	Number    Type = "number"    // DOUBLE
	Boolean   Type = "boolean"   // BOOLEAN
	Timestamp Type = "timestamp" // TIMESTAMPTZ, from Unix seconds or an ISO 8601 string
	Date      Type = "date"      // DATE, from YYYY-MM-DD or Unix seconds
	List      Type = "list"      // VARCHAR[], the values at a path with a "*" step
	JSON      Type = "json"      // VARCHAR holding JSON: nested values without a documented shape
)

// DuckDBType is the column's type as DuckDB names it.
func (t Type) DuckDBType() string {
	switch t {
	case Integer:
		return "BIGINT"
	case Number:
		return "DOUBLE"
	case Boolean:
		return "BOOLEAN"
	case Timestamp:
		return "TIMESTAMP WITH TIME ZONE"
	case Date:
		return "DATE"
	case List:
		return "VARCHAR[]"
	}
	return "VARCHAR"
}

func (t Type) arrow() arrow.DataType {
	switch t {
	case Integer:
		return arrow.PrimitiveTypes.Int64
	case Number:
		return arrow.PrimitiveTypes.Float64
	case Boolean:
		return arrow.FixedWidthTypes.Boolean
	case Timestamp:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	case Date:
		return arrow.FixedWidthTypes.Date32
	case List:
		return arrow.ListOf(arrow.BinaryTypes.String)
	}
	return arrow.BinaryTypes.String
}

// Column is one typed column of a landed object. Name is how analysts
// query it (the field's API name, or its dotted path for nested fields:
// "Owner.Email", "custom_attributes.plan"); Path is where the value sits in
// the API's JSON record ("*" maps over a list).
type Column struct {
	Name string
	Type Type
	Path []string
	// LandingOnly: landed for audits and analysts (landing.* views) but
	// not kept in current state, which models read.
	LandingOnly bool
}

// Col is a column whose name is its dotted path.
func Col(name string, t Type) Column {
	return Column{Name: name, Type: t, Path: strings.Split(name, ".")}
}

// Lineage columns lead every landing file and current-state table. A
// source's own fields of the same name (case-insensitively, as DuckDB
// compares identifiers) are the same facts and are not landed twice.
var Lineage = []string{"_run_id", "_extracted_at", "id", "updated_at", "is_deleted"}

// Unmapped holds, as a JSON object, whatever a record carried outside its
// columns, so that nothing the API returned is lost.
const Unmapped = "_unmapped"

// IsLineage reports whether name clashes with a lineage column.
func IsLineage(name string) bool {
	for _, l := range Lineage {
		if strings.EqualFold(l, name) {
			return true
		}
	}
	return strings.EqualFold(name, Unmapped)
}

// TableName is the name of an object's current-state table and landing
// view: intercom.contacts -> intercom__contacts, salesforce.OpportunityContactRole
// -> salesforce__opportunity_contact_role.
func TableName(system, object string) string {
	return system + "__" + snake(object)
}

var camel = regexp.MustCompile(`([a-z0-9])([A-Z])`)

func snake(s string) string { return strings.ToLower(camel.ReplaceAllString(s, "${1}_${2}")) }

// FieldError is a value that does not fit its column's type: a type change
// at the source, or a malformed response. It is never coerced.
type FieldError struct {
	Record, Column string
	Type           Type
	Value          any
}

func (e *FieldError) Error() string {
	v, _ := json.Marshal(e.Value)
	return fmt.Sprintf("record %s: field %s: %s is not %s %s", e.Record, e.Column, v, article(e.Type), e.Type)
}

// lookup walks path through a decoded record; a "*" step maps the rest of
// the path over a list and returns the list.
func lookup(v any, path []string) any {
	for i, p := range path {
		if p == "*" {
			list, ok := v.([]any)
			if !ok {
				return nil
			}
			out := make([]any, 0, len(list))
			for _, e := range list {
				if x := lookup(e, path[i+1:]); x != nil {
					out = append(out, x)
				}
			}
			return out
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// text renders a scalar as text; objects and lists are not text.
func text(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// convert turns a decoded JSON value into the Go value of column type t
// (string, int64, float64, bool, time.Time, []string); nil stays nil.
func convert(v any, t Type) (any, bool) {
	if v == nil {
		return nil, true
	}
	switch t {
	case String:
		return text(v)
	case JSON:
		b, err := json.Marshal(v)
		return string(b), err == nil
	case Integer:
		n, ok := number(v)
		if !ok {
			return nil, false
		}
		if i, err := n.Int64(); err == nil {
			return i, true
		}
		f, err := n.Float64()
		if err != nil || f != math.Trunc(f) {
			return nil, false
		}
		return int64(f), true
	case Number:
		n, ok := number(v)
		if !ok {
			return nil, false
		}
		f, err := n.Float64()
		return f, err == nil
	case Boolean:
		b, ok := v.(bool)
		return b, ok
	case Timestamp, Date:
		switch x := v.(type) {
		case json.Number:
			sec, err := x.Int64()
			if err != nil {
				return nil, false
			}
			return time.Unix(sec, 0).UTC(), true
		case string:
			if x == "" {
				return nil, true
			}
			for _, layout := range []string{"2006-01-02T15:04:05.000-0700", time.RFC3339Nano, "2006-01-02"} {
				if ts, err := time.Parse(layout, x); err == nil {
					return ts.UTC(), true
				}
			}
		}
		return nil, false
	case List:
		list, ok := v.([]any)
		if !ok {
			return nil, false
		}
		out := make([]string, 0, len(list))
		for _, e := range list {
			s, ok := text(e)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// number reads a JSON number, or a number sent as a non-empty string
// (Salesforce and Intercom both do for some fields); the caller parses it.
func number(v any) (json.Number, bool) {
	switch x := v.(type) {
	case json.Number:
		return x, true
	case string:
		return json.Number(x), x != ""
	}
	return "", false
}

// decode parses a record keeping numbers exact.
func decode(record []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(record))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// usedTree records which parts of a record the columns read: a node with
// no children is read whole.
type usedTree map[string]usedTree

func newUsedTree(cols []Column) usedTree {
	root := usedTree{}
	for _, c := range cols {
		n := root
		for i, p := range c.Path {
			if p == "*" {
				break
			}
			child, ok := n[p]
			if !ok {
				child = usedTree{}
				n[p] = child
			}
			if i+1 < len(c.Path) && c.Path[i+1] == "*" {
				clear(child) // a list is read whole
				break
			}
			n = child
		}
	}
	return root
}

// leftover returns what of m no column reads (nil values dropped), or nil.
func (u usedTree) leftover(m map[string]any, top bool) map[string]any {
	var rest map[string]any
	for k, v := range m {
		if v == nil || (top && (IsLineage(k) || k == "attributes" || k == "type")) {
			continue
		}
		var keep any = v
		if sub, ok := u[k]; ok {
			if len(sub) == 0 {
				continue
			}
			mm, isMap := v.(map[string]any)
			if !isMap {
				continue
			}
			lo := sub.leftover(mm, false)
			if lo == nil {
				continue
			}
			keep = lo
		}
		if rest == nil {
			rest = map[string]any{}
		}
		rest[k] = keep
	}
	return rest
}

// unmapped returns what of the record no column reads, as a JSON object,
// or "" when the columns read all of it.
func unmapped(m map[string]any, used usedTree) string {
	rest := used.leftover(m, true)
	if rest == nil {
		return ""
	}
	b, _ := json.Marshal(rest)
	return string(b)
}

func article(t Type) string {
	if strings.ContainsRune("aeiou", rune(t[0])) {
		return "an"
	}
	return "a"
}
