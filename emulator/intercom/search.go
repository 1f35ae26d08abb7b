package intercom

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// cursorKey is what an opaque starting_after cursor encodes: the sort value
// and id of the last item handed out, so a scan resumes after it even when
// records change in between.
type cursorKey struct {
	V  any    `json:"v"`
	ID string `json:"id"`
}

func encodeCursor(k cursorKey) string {
	b, _ := json.Marshal([]any{k.V, k.ID})
	return base64.StdEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursorKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return cursorKey{}, err
	}
	var arr []any
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&arr); err != nil || len(arr) != 2 {
		return cursorKey{}, fmt.Errorf("bad cursor")
	}
	id, _ := arr[1].(string)
	v := arr[0]
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			v = i
		} else {
			f, _ := n.Float64()
			v = f
		}
	}
	return cursorKey{V: v, ID: id}, nil
}

// filter is one node of the search query tree.
type filter struct {
	Field    string          `json:"field"`
	Operator string          `json:"operator"`
	Value    json.RawMessage `json:"value"`
}

type node struct {
	group    bool
	op       string // AND | OR, or the comparison operator
	children []*node
	field    string
	typ      string // string integer float boolean date
	values   []any
	null     bool
}

var contactFields = map[string]string{
	"id": "string", "role": "string", "name": "string", "email": "string", "email_domain": "string", "phone": "string",
	"external_id": "string", "owner_id": "integer", "unsubscribed_from_emails": "boolean",
	"created_at": "date", "updated_at": "date", "signed_up_at": "date", "last_seen_at": "date",
}

// operatorsFor lists the operators each field type accepts. "date" is the
// contact-search kind, compared by calendar day; "timestamp" (conversation
// search) compares exact seconds.
var operatorsFor = map[string][]string{
	"string":    {"=", "!=", "IN", "NIN", "~", "!~", "^", "$"},
	"boolean":   {"=", "!=", "IN", "NIN"},
	"integer":   {"=", "!=", "IN", "NIN", "<", ">", "<=", ">="},
	"float":     {"=", "!=", "IN", "NIN", "<", ">", "<=", ">="},
	"date":      {"=", "<", ">"},
	"timestamp": {"=", "!=", "IN", "NIN", "<", ">", "<=", ">="},
}

// searchable objects expose their fields by name.
type searchable interface{ fieldValue(field string) any }

type badQuery struct{ msg string }

func (e badQuery) Error() string { return e.msg }

// parseNode validates a contact search query.
func (s *Server) parseNode(raw json.RawMessage, depth int) (*node, error) {
	return s.parseQuery(raw, depth, contactFields, "contact")
}

// parseQuery validates a query object: groups nest at most two levels deep
// and hold at most 15 items; operators must suit the field's type. model
// names the data-attribute model custom_attributes.* fields come from.
func (s *Server) parseQuery(raw json.RawMessage, depth int, fields map[string]string, model string) (*node, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, badQuery{"query must be an object"}
	}
	var op string
	json.Unmarshal(probe["operator"], &op)
	if op == "AND" || op == "OR" {
		if depth >= 2 {
			return nil, badQuery{"Nested query depth exceeds the maximum of 2"}
		}
		var items []json.RawMessage
		if err := json.Unmarshal(probe["value"], &items); err != nil || len(items) == 0 {
			return nil, badQuery{"A query group needs a non-empty array value"}
		}
		if len(items) > 15 {
			return nil, badQuery{"A query group may hold at most 15 filters"}
		}
		n := &node{group: true, op: op}
		for _, it := range items {
			c, err := s.parseQuery(it, depth+1, fields, model)
			if err != nil {
				return nil, err
			}
			n.children = append(n.children, c)
		}
		return n, nil
	}
	var f filter
	if err := json.Unmarshal(raw, &f); err != nil || f.Field == "" || f.Operator == "" {
		return nil, badQuery{"A filter needs field, operator and value"}
	}
	typ, ok := fields[f.Field]
	if !ok && model != "" && strings.HasPrefix(f.Field, "custom_attributes.") {
		s.ws.mu.RLock()
		a := s.ws.attrs[model+"/"+strings.TrimPrefix(f.Field, "custom_attributes.")]
		s.ws.mu.RUnlock()
		if a != nil {
			typ, ok = a.DataType, true
			if typ == "options" {
				typ = "string"
			}
		}
	}
	if !ok {
		return nil, badQuery{fmt.Sprintf("%s is not a searchable field", f.Field)}
	}
	allowed := false
	for _, o := range operatorsFor[typ] {
		if o == f.Operator {
			allowed = true
		}
	}
	if !allowed {
		return nil, badQuery{fmt.Sprintf("The operator %s is not supported for field %s of type %s", f.Operator, f.Field, typ)}
	}
	n := &node{op: f.Operator, field: f.Field, typ: typ}
	d := json.NewDecoder(strings.NewReader(string(f.Value)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, badQuery{"filter value is not valid JSON"}
	}
	if f.Operator == "IN" || f.Operator == "NIN" {
		arr, ok := v.([]any)
		if !ok {
			return nil, badQuery{fmt.Sprintf("%s expects an array value", f.Operator)}
		}
		n.values = arr
	} else {
		n.values = []any{v}
		n.null = v == nil
	}
	for i, x := range n.values {
		conv, err := convertValue(typ, x)
		if err != nil {
			return nil, badQuery{fmt.Sprintf("value for %s: %v", f.Field, err)}
		}
		n.values[i] = conv
	}
	return n, nil
}

func convertValue(typ string, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "integer", "date", "timestamp":
		switch x := v.(type) {
		case json.Number:
			return x.Int64()
		case string:
			var n json.Number = json.Number(x)
			return n.Int64()
		}
		return nil, fmt.Errorf("expected an integer")
	case "float":
		if x, ok := v.(json.Number); ok {
			return x.Float64()
		}
		return nil, fmt.Errorf("expected a number")
	case "boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, fmt.Errorf("expected a boolean")
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	}
	return nil, fmt.Errorf("expected a string")
}

// fieldValue reads a searchable field of a contact (nil when unset).
func (c *contact) fieldValue(field string) any {
	switch field {
	case "id":
		return c.ID
	case "role":
		return c.Role
	case "name":
		return strOrNil(c.Name)
	case "email":
		return strOrNil(c.Email)
	case "email_domain":
		if c.Email == nil {
			return nil
		}
		_, d, _ := strings.Cut(*c.Email, "@")
		return strings.TrimSpace(d)
	case "phone":
		return strOrNil(c.Phone)
	case "external_id":
		return strOrNil(c.ExternalID)
	case "owner_id":
		return intOrNil(c.OwnerID)
	case "unsubscribed_from_emails":
		return c.Unsubscribed
	case "created_at":
		return c.CreatedAt
	case "updated_at":
		return c.UpdatedAt
	case "signed_up_at":
		return intOrNil(c.SignedUpAt)
	case "last_seen_at":
		return intOrNil(c.LastSeenAt)
	}
	if name, ok := strings.CutPrefix(field, "custom_attributes."); ok {
		v := c.Custom[name]
		if f, ok := v.(float64); ok && f == float64(int64(f)) {
			return int64(f) // values replayed from JSON come back as float64
		}
		return v
	}
	return nil
}

func asFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	case int:
		return float64(x)
	}
	return 0
}

// day truncates a unix timestamp to its calendar day in the workspace zone:
// contact search compares dates by day.
func (s *Server) day(ts int64) int64 {
	t := time.Unix(ts, 0).In(s.ws.tz)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, s.ws.tz).Unix()
}

func (s *Server) match(n *node, c searchable) bool {
	if n.group {
		for _, ch := range n.children {
			m := s.match(ch, c)
			if n.op == "AND" && !m {
				return false
			}
			if n.op == "OR" && m {
				return true
			}
		}
		return n.op == "AND"
	}
	v := c.fieldValue(n.field)
	if list, ok := v.([]string); ok {
		// List fields (tag_ids, contact_ids): "=" and IN mean "contains".
		hit := false
		for _, want := range n.values {
			for _, have := range list {
				if s.equal(n.typ, have, want) {
					hit = true
				}
			}
		}
		if n.op == "=" || n.op == "IN" {
			return hit
		}
		return !hit
	}
	if n.op == "IN" || n.op == "NIN" {
		hit := false
		for _, want := range n.values {
			if s.equal(n.typ, v, want) {
				hit = true
				break
			}
		}
		return hit == (n.op == "IN")
	}
	want := n.values[0]
	switch n.op {
	case "=":
		return s.equal(n.typ, v, want)
	case "!=":
		return !s.equal(n.typ, v, want)
	}
	if v == nil || want == nil {
		return false
	}
	switch n.typ {
	case "string":
		a, b := strings.ToLower(v.(string)), strings.ToLower(want.(string))
		switch n.op {
		case "~":
			return strings.Contains(a, b)
		case "!~":
			return !strings.Contains(a, b)
		case "^":
			return strings.HasPrefix(a, b)
		case "$":
			return strings.HasSuffix(a, b)
		}
		return false
	case "date":
		a, b := s.day(int64(asFloat(v))), s.day(int64(asFloat(want)))
		switch n.op {
		case "<":
			return a < b
		case ">":
			return a > b
		}
		return false
	}
	// integer, float and timestamp compare numerically.
	a, b := asFloat(v), asFloat(want)
	switch n.op {
	case "<":
		return a < b
	case ">":
		return a > b
	case "<=":
		return a <= b
	case ">=":
		return a >= b
	}
	return false
}

func (s *Server) equal(typ string, v, want any) bool {
	if v == nil || want == nil {
		return v == nil && want == nil
	}
	switch typ {
	case "string":
		vs, _ := v.(string)
		ws, _ := want.(string)
		return strings.EqualFold(vs, ws)
	case "date":
		return s.day(int64(asFloat(v))) == s.day(int64(asFloat(want)))
	case "boolean":
		return v == want
	}
	return asFloat(v) == asFloat(want)
}

// searchCache keeps the sorted result of the last query so that paging a
// large scan does not re-sort the workspace for every page.
type searchCache[T any] struct {
	mu      sync.Mutex
	key     string
	version int64
	items   []*T
}

// get returns the matches of key at the workspace's version, computing
// them only when the query or the workspace changed since the last call:
// paging a search of a million records must not re-filter and re-sort
// them for every page. The caller holds the workspace's read lock.
func (c *searchCache[T]) get(key string, version int64, compute func() []*T) []*T {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.key != key || c.version != version {
		c.key, c.version, c.items = key, version, compute()
	}
	return c.items
}

func lessKey(a, b cursorKey, desc bool) bool {
	c := compareAny(a.V, b.V)
	if c == 0 {
		return a.ID < b.ID // ids always ascend, so ties page deterministically
	}
	if desc {
		return c > 0
	}
	return c < 0
}

func compareAny(a, b any) int {
	if a == nil || b == nil {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return -1
		}
		return 1
	}
	switch x := a.(type) {
	case string:
		y, _ := b.(string)
		return strings.Compare(strings.ToLower(x), strings.ToLower(y))
	case bool:
		y, _ := b.(bool)
		if x == y {
			return 0
		}
		if !x {
			return -1
		}
		return 1
	}
	fa, fb := asFloat(a), asFloat(b)
	switch {
	case fa < fb:
		return -1
	case fa > fb:
		return 1
	}
	return 0
}

func (s *Server) searchContacts(w http.ResponseWriter, r *http.Request, version string) {
	var req struct {
		Query      json.RawMessage `json:"query"`
		Pagination struct {
			PerPage       *int   `json:"per_page"`
			StartingAfter string `json:"starting_after"`
		} `json:"pagination"`
		Sort *struct {
			Field string `json:"field"`
			Order string `json:"order"`
		} `json:"sort"`
	}
	body, err := decode(r)
	if err != nil {
		writeError(w, 400, "parameter_invalid", err.Error())
		return
	}
	raw, _ := json.Marshal(body)
	if err := json.Unmarshal(raw, &req); err != nil {
		writeError(w, 400, "parameter_invalid", "Body is not a valid search request")
		return
	}
	if len(req.Query) == 0 {
		writeError(w, 400, "parameter_invalid", "query is required")
		return
	}
	q, err := s.parseNode(req.Query, 0)
	if err != nil {
		writeError(w, 400, "parameter_invalid", err.Error())
		return
	}
	perPage := 50
	if req.Pagination.PerPage != nil {
		perPage = *req.Pagination.PerPage
		if perPage < 1 || perPage > 150 {
			writeError(w, 400, "parameter_invalid", "per_page must be between 1 and 150")
			return
		}
	}
	// Sort order defaults to descending; the sort uses full values even
	// where the filter compares dates by day.
	sortField, desc := "", true
	if req.Sort != nil {
		sortField = req.Sort.Field
		switch req.Sort.Order {
		case "", "descending":
		case "ascending":
			desc = false
		default:
			writeError(w, 400, "invalid_sort_order", fmt.Sprintf("Invalid sort order '%s'. Must be one of: ascending, descending", req.Sort.Order))
			return
		}
		if _, ok := contactFields[sortField]; !ok && !strings.HasPrefix(sortField, "custom_attributes.") {
			writeError(w, 400, "parameter_invalid", sortField+" is not a sortable field")
			return
		}
	}
	var after *cursorKey
	if req.Pagination.StartingAfter != "" {
		k, err := decodeCursor(req.Pagination.StartingAfter)
		if err != nil {
			writeError(w, 400, "parameter_invalid", "starting_after is invalid")
			return
		}
		after = &k
	}
	keyOf := func(c *contact) cursorKey {
		if sortField == "" {
			return cursorKey{V: nil, ID: c.ID}
		}
		return cursorKey{V: c.fieldValue(sortField), ID: c.ID}
	}
	s.ws.mu.RLock()
	items := s.cache.get(string(req.Query)+"|"+sortField+fmt.Sprint(desc), s.ws.version, func() []*contact {
		var items []*contact
		for _, c := range s.ws.contacts.list {
			if !c.gone() && !c.Archived && s.match(q, c) {
				items = append(items, c)
			}
		}
		sort.SliceStable(items, func(i, j int) bool { return lessKey(keyOf(items[i]), keyOf(items[j]), desc) })
		return items
	})
	start := 0
	if after != nil {
		start = sort.Search(len(items), func(i int) bool { return lessKey(*after, keyOf(items[i]), desc) })
	}
	end := min(start+perPage, len(items))
	data := make([]map[string]any, 0, end-start)
	for _, c := range items[start:end] {
		data = append(data, s.contactJSON(c, version))
	}
	var next any
	if end < len(items) {
		next = map[string]any{"per_page": perPage, "starting_after": encodeCursor(keyOf(items[end-1]))}
	}
	s.ws.mu.RUnlock()
	writeJSON(w, 200, map[string]any{"type": "list", "data": data, "total_count": len(items), "pages": pages(start, perPage, len(items), next)})
}
