package salesforce

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The SOQL subset: SELECT field list (with parent relationship paths such as
// Owner.Email) or COUNT(); FROM one object; WHERE with AND/OR/NOT,
// comparisons, IN/NOT IN, LIKE, NULL, booleans, numbers, strings and unquoted
// date/datetime literals; ORDER BY with ASC/DESC and NULLS FIRST/LAST; LIMIT
// and OFFSET.

type soqlError struct {
	code string
	msg  string
}

func (e *soqlError) Error() string { return e.msg }

func malformed(format string, a ...any) error {
	return &soqlError{code: "MALFORMED_QUERY", msg: fmt.Sprintf(format, a...)}
}

type tokKind int

const (
	tIdent tokKind = iota
	tString
	tNumber
	tDate
	tDateTime
	tOp
	tComma
	tLParen
	tRParen
	tEOF
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func lex(q string) ([]token, error) {
	var out []token
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case unicode.IsSpace(rune(c)):
			i++
		case c == ',':
			out = append(out, token{tComma, ",", i})
			i++
		case c == '(':
			out = append(out, token{tLParen, "(", i})
			i++
		case c == ')':
			out = append(out, token{tRParen, ")", i})
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			closed := false
			for j < len(q) {
				if q[j] == '\\' && j+1 < len(q) {
					switch q[j+1] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					default:
						b.WriteByte(q[j+1])
					}
					j += 2
					continue
				}
				if q[j] == '\'' {
					closed = true
					break
				}
				b.WriteByte(q[j])
				j++
			}
			if !closed {
				return nil, malformed("unterminated string literal at position %d", i)
			}
			out = append(out, token{tString, b.String(), i})
			i = j + 1
		case strings.ContainsRune("=!<>", rune(c)):
			j := i + 1
			if j < len(q) && (q[j] == '=' || (c == '<' && q[j] == '>')) {
				j++
			}
			out = append(out, token{tOp, q[i:j], i})
			i = j
		case c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.':
			j := i + 1
			for j < len(q) && (q[j] >= '0' && q[j] <= '9' || strings.ContainsRune(".-:TZ+", rune(q[j]))) {
				j++
			}
			text := q[i:j]
			kind := tNumber
			if len(text) >= 10 && text[4] == '-' && text[7] == '-' {
				kind = tDate
				if len(text) > 10 {
					kind = tDateTime
				}
			}
			out = append(out, token{kind, text, i})
			i = j
		case unicode.IsLetter(rune(c)) || c == '_':
			j := i + 1
			for j < len(q) && (unicode.IsLetter(rune(q[j])) || unicode.IsDigit(rune(q[j])) || q[j] == '_' || q[j] == '.' || q[j] == ':') {
				j++
			}
			out = append(out, token{tIdent, q[i:j], i})
			i = j
		default:
			return nil, malformed("unexpected character %q at position %d", c, i)
		}
	}
	return append(out, token{tEOF, "", len(q)}), nil
}

type soqlQuery struct {
	obj    *objectMeta
	fields []string // canonical paths as written in SELECT (Id, Owner.Email)
	count  bool
	where  cond
	order  []orderItem
	limit  int
	offset int
}

type orderItem struct {
	path       string
	desc       bool
	nullsFirst bool
}

type cond interface {
	eval(o *org, r *record) bool
}

type andCond struct{ a, b cond }
type orCond struct{ a, b cond }
type notCond struct{ c cond }
type cmpCond struct {
	path string
	f    *fieldMeta
	op   string
	vals []any           // one for comparisons, several for IN
	not  bool            // NOT IN
	set  map[string]bool // IN over text fields: lower-cased values
}

func (c andCond) eval(o *org, r *record) bool { return c.a.eval(o, r) && c.b.eval(o, r) }
func (c orCond) eval(o *org, r *record) bool  { return c.a.eval(o, r) || c.b.eval(o, r) }
func (c notCond) eval(o *org, r *record) bool { return !c.c.eval(o, r) }

type parser struct {
	toks []token
	i    int
	o    *org
	obj  *objectMeta
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *parser) kw(word string) bool {
	t := p.peek()
	if t.kind == tIdent && strings.EqualFold(t.text, word) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expectKw(word string) error {
	if !p.kw(word) {
		t := p.peek()
		return malformed("unexpected token: '%s' at position %d, expected %s", t.text, t.pos, word)
	}
	return nil
}

// parseSOQL parses and binds q against the org's schema.
func (o *org) parseSOQL(q string) (*soqlQuery, error) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, o: o}
	if err := p.expectKw("SELECT"); err != nil {
		return nil, err
	}
	sq := &soqlQuery{limit: -1}
	var raw []token
	for {
		t := p.next()
		if t.kind == tIdent && strings.EqualFold(t.text, "COUNT") && p.peek().kind == tLParen {
			p.next()
			if p.next().kind != tRParen {
				return nil, malformed("COUNT() takes no field in this emulator")
			}
			sq.count = true
		} else if t.kind == tIdent {
			raw = append(raw, t)
		} else {
			return nil, malformed("unexpected token: '%s' at position %d", t.text, t.pos)
		}
		if p.peek().kind != tComma {
			break
		}
		p.next()
	}
	if err := p.expectKw("FROM"); err != nil {
		return nil, err
	}
	ot := p.next()
	if ot.kind != tIdent {
		return nil, malformed("expected object name after FROM")
	}
	sq.obj = o.object(ot.text)
	if sq.obj == nil {
		return nil, &soqlError{code: "INVALID_TYPE", msg: fmt.Sprintf("sObject type '%s' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name.", ot.text)}
	}
	p.obj = sq.obj
	if sq.count && len(raw) > 0 {
		return nil, malformed("COUNT() cannot be combined with other fields")
	}
	for _, t := range raw {
		path, _, err := p.bindPath(t.text)
		if err != nil {
			return nil, err
		}
		sq.fields = append(sq.fields, path)
	}
	if p.kw("WHERE") {
		if sq.where, err = p.parseOr(); err != nil {
			return nil, err
		}
	}
	if p.kw("ORDER") {
		if err := p.expectKw("BY"); err != nil {
			return nil, err
		}
		for {
			t := p.next()
			if t.kind != tIdent {
				return nil, malformed("expected field in ORDER BY at position %d", t.pos)
			}
			path, _, err := p.bindPath(t.text)
			if err != nil {
				return nil, err
			}
			it := orderItem{path: path, nullsFirst: true}
			if p.kw("DESC") {
				it.desc, it.nullsFirst = true, false
			} else {
				p.kw("ASC")
			}
			if p.kw("NULLS") {
				if p.kw("LAST") {
					it.nullsFirst = false
				} else if err := p.expectKw("FIRST"); err != nil {
					return nil, err
				} else {
					it.nullsFirst = true
				}
			}
			sq.order = append(sq.order, it)
			if p.peek().kind != tComma {
				break
			}
			p.next()
		}
	}
	if p.kw("LIMIT") {
		t := p.next()
		n, err := strconv.Atoi(t.text)
		if t.kind != tNumber || err != nil || n < 0 {
			return nil, malformed("LIMIT expects a non-negative integer, got '%s'", t.text)
		}
		sq.limit = n
	}
	if p.kw("OFFSET") {
		t := p.next()
		n, err := strconv.Atoi(t.text)
		if t.kind != tNumber || err != nil || n < 0 {
			return nil, malformed("OFFSET expects a non-negative integer, got '%s'", t.text)
		}
		sq.offset = n
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, malformed("unexpected token: '%s' at position %d", t.text, t.pos)
	}
	return sq, nil
}

// bindPath resolves Field or Relationship.Field to its metadata.
func (p *parser) bindPath(text string) (string, *fieldMeta, error) {
	parts := strings.Split(text, ".")
	obj := p.obj
	canon := make([]string, 0, len(parts))
	if len(parts) > 1 && strings.EqualFold(parts[0], obj.Name) {
		parts = parts[1:]
	}
	for i, part := range parts {
		if i < len(parts)-1 {
			rf := obj.rel(part)
			if rf == nil {
				return "", nil, &soqlError{code: "INVALID_FIELD", msg: fmt.Sprintf("Didn't understand relationship '%s' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name.", part)}
			}
			canon = append(canon, rf.RelationshipName)
			obj = p.o.object(rf.ReferenceTo[0])
			continue
		}
		f := obj.field(part)
		if f == nil {
			return "", nil, &soqlError{code: "INVALID_FIELD", msg: fmt.Sprintf("No such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", part, obj.Name)}
		}
		canon = append(canon, f.Name)
		return strings.Join(canon, "."), f, nil
	}
	return "", nil, malformed("bad field path '%s'", text)
}

func (p *parser) parseOr() (cond, error) {
	left, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.kw("OR") {
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		left = orCond{left, right}
	}
	return left, nil
}

func (p *parser) parseAnd() (cond, error) {
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for p.kw("AND") {
		right, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		left = andCond{left, right}
	}
	return left, nil
}

func (p *parser) parseUnary() (cond, error) {
	if p.kw("NOT") {
		c, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return notCond{c}, nil
	}
	if p.peek().kind == tLParen {
		p.next()
		c, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if p.next().kind != tRParen {
			return nil, malformed("missing ')'")
		}
		return c, nil
	}
	ft := p.next()
	if ft.kind != tIdent {
		return nil, malformed("unexpected token: '%s' at position %d", ft.text, ft.pos)
	}
	path, f, err := p.bindPath(ft.text)
	if err != nil {
		return nil, err
	}
	if !f.Filterable {
		return nil, &soqlError{code: "INVALID_FIELD", msg: fmt.Sprintf("field '%s' can not be filtered in a query call", f.Name)}
	}
	c := cmpCond{path: path, f: f}
	switch {
	case p.peek().kind == tOp:
		c.op = p.next().text
		if c.op == "<>" {
			c.op = "!="
		}
		v, err := p.literal(f)
		if err != nil {
			return nil, err
		}
		c.vals = []any{v}
	case p.kw("LIKE"):
		c.op = "LIKE"
		t := p.next()
		if t.kind != tString {
			return nil, malformed("LIKE expects a string literal")
		}
		c.vals = []any{t.text}
	case p.kw("NOT"):
		if err := p.expectKw("IN"); err != nil {
			return nil, err
		}
		c.op, c.not = "IN", true
		if c.vals, err = p.list(f); err != nil {
			return nil, err
		}
	case p.kw("IN"):
		c.op = "IN"
		if c.vals, err = p.list(f); err != nil {
			return nil, err
		}
	default:
		t := p.peek()
		return nil, malformed("unexpected token: '%s' at position %d, expected an operator", t.text, t.pos)
	}
	if c.op == "IN" && isText(f.Type) {
		c.set = map[string]bool{}
		for _, v := range c.vals {
			if s, ok := v.(string); ok {
				c.set[strings.ToLower(s)] = true
			}
		}
	}
	return c, nil
}

func isText(t string) bool {
	switch t {
	case "id", "reference", "string", "email", "phone", "url", "textarea", "picklist":
		return true
	}
	return false
}

func (p *parser) list(f *fieldMeta) ([]any, error) {
	if p.next().kind != tLParen {
		return nil, malformed("IN expects a parenthesised list")
	}
	var out []any
	for {
		v, err := p.literal(f)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		t := p.next()
		if t.kind == tRParen {
			return out, nil
		}
		if t.kind != tComma {
			return nil, malformed("expected ',' or ')' in IN list")
		}
	}
}

// literal reads a literal and checks it against the field's type.
func (p *parser) literal(f *fieldMeta) (any, error) {
	t := p.next()
	wrong := func() error {
		return &soqlError{code: "INVALID_FIELD", msg: fmt.Sprintf("value of filter criterion for field '%s' must be of type %s and should not be enclosed in quotes", f.Name, f.Type)}
	}
	switch t.kind {
	case tIdent:
		switch strings.ToLower(t.text) {
		case "null":
			return nil, nil
		case "true", "false":
			if f.Type != "boolean" {
				return nil, wrong()
			}
			return strings.EqualFold(t.text, "true"), nil
		}
		return nil, malformed("unexpected token: '%s' at position %d", t.text, t.pos)
	case tString:
		switch f.Type {
		case "date", "datetime", "boolean", "int", "double", "currency", "percent":
			return nil, wrong()
		}
		return t.text, nil
	case tNumber:
		n, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, malformed("bad number '%s'", t.text)
		}
		switch f.Type {
		case "int", "double", "currency", "percent":
			return n, nil
		}
		return nil, wrong()
	case tDate:
		if f.Type != "date" {
			return nil, &soqlError{code: "INVALID_FIELD", msg: fmt.Sprintf("value of filter criterion for field '%s' must be of type %s", f.Name, f.Type)}
		}
		if _, err := time.Parse("2006-01-02", t.text); err != nil {
			return nil, malformed("bad date literal '%s'", t.text)
		}
		return t.text, nil
	case tDateTime:
		if f.Type != "datetime" {
			return nil, &soqlError{code: "INVALID_FIELD", msg: fmt.Sprintf("value of filter criterion for field '%s' must be of type %s", f.Name, f.Type)}
		}
		tm, err := time.Parse(time.RFC3339Nano, t.text)
		if err != nil {
			return nil, malformed("bad datetime literal '%s': use YYYY-MM-DDThh:mm:ssZ or an offset", t.text)
		}
		return tm, nil
	}
	return nil, malformed("unexpected token: '%s' at position %d", t.text, t.pos)
}

// resolve follows a path from r; ok is false when a parent link is empty.
func (o *org) resolve(r *record, path string) any {
	parts := strings.Split(path, ".")
	cur := r
	for _, part := range parts[:len(parts)-1] {
		rf := cur.obj.rel(part)
		id, _ := cur.f[rf.Name].(string)
		if id == "" {
			return nil
		}
		cur = o.get(o.refTarget(rf, id), id)
		if cur == nil {
			return nil
		}
	}
	return cur.value(parts[len(parts)-1])
}

func compare(f *fieldMeta, a, b any) int {
	switch f.Type {
	case "datetime":
		ta, _ := parseSFDateTime(fmt.Sprint(a))
		var tb time.Time
		if t, ok := b.(time.Time); ok {
			tb = t
		} else {
			tb, _ = parseSFDateTime(fmt.Sprint(b))
		}
		return ta.Compare(tb)
	case "int", "double", "currency", "percent":
		fa, _ := a.(float64)
		fb, _ := b.(float64)
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	case "boolean":
		ba, _ := a.(bool)
		bb, _ := b.(bool)
		if ba == bb {
			return 0
		}
		if !ba {
			return -1
		}
		return 1
	}
	return strings.Compare(strings.ToLower(fmt.Sprint(a)), strings.ToLower(fmt.Sprint(b)))
}

func (c cmpCond) eval(o *org, r *record) bool {
	v := o.resolve(r, c.path)
	if c.set != nil && v != nil {
		return c.set[strings.ToLower(fmt.Sprint(v))] != c.not
	}
	if c.op == "IN" {
		hit := false
		for _, want := range c.vals {
			if (v == nil) == (want == nil) && (v == nil || compare(c.f, v, want) == 0) {
				hit = true
				break
			}
		}
		return hit != c.not
	}
	want := c.vals[0]
	if c.op == "LIKE" {
		return v != nil && likeMatch(strings.ToLower(fmt.Sprint(v)), strings.ToLower(want.(string)))
	}
	if v == nil || want == nil {
		switch c.op {
		case "=":
			return v == nil && want == nil
		case "!=":
			return (v == nil) != (want == nil)
		}
		return false
	}
	n := compare(c.f, v, want)
	switch c.op {
	case "=":
		return n == 0
	case "!=":
		return n != 0
	case "<":
		return n < 0
	case "<=":
		return n <= 0
	case ">":
		return n > 0
	case ">=":
		return n >= 0
	}
	return false
}

// likeMatch implements SOQL LIKE: % any run, _ one character.
func likeMatch(s, pat string) bool {
	if pat == "" {
		return s == ""
	}
	switch pat[0] {
	case '%':
		for i := 0; i <= len(s); i++ {
			if likeMatch(s[i:], pat[1:]) {
				return true
			}
		}
		return false
	case '_':
		return s != "" && likeMatch(s[1:], pat[1:])
	case '\\':
		if len(pat) > 1 {
			return s != "" && s[0] == pat[1] && likeMatch(s[1:], pat[2:])
		}
	}
	return s != "" && s[0] == pat[0] && likeMatch(s[1:], pat[1:])
}

// run evaluates the query; all includes soft-deleted rows (queryAll).
func (o *org) run(q *soqlQuery, all bool) []*record {
	var out []*record
	for _, r := range o.candidates(q) {
		if r.deleted() && !all {
			continue
		}
		if q.where != nil && !q.where.eval(o, r) {
			continue
		}
		out = append(out, r)
	}
	if len(q.order) > 0 {
		metas := make([]*fieldMeta, len(q.order))
		for i, it := range q.order {
			metas[i] = o.fieldAt(q.obj, it.path)
		}
		sort.SliceStable(out, func(i, j int) bool {
			for k, it := range q.order {
				a, b := o.resolve(out[i], it.path), o.resolve(out[j], it.path)
				if (a == nil) != (b == nil) {
					return (a == nil) == it.nullsFirst
				}
				if a == nil {
					continue
				}
				n := compare(metas[k], a, b)
				if n != 0 {
					return (n < 0) != it.desc
				}
			}
			return false
		})
	}
	if q.offset > 0 {
		if q.offset >= len(out) {
			out = nil
		} else {
			out = out[q.offset:]
		}
	}
	if q.limit >= 0 && len(out) > q.limit {
		out = out[:q.limit]
	}
	return out
}

// candidates returns the records a query must look at, in creation order:
// the ones named by an Id = or Id IN condition of the WHERE clause's
// top-level AND chain (the Id index a real org uses), otherwise every record
// of the object. An id the index does not hold as written (a 15-character
// id, other letter case) makes it scan, which compares ids as SOQL does.
func (o *org) candidates(q *soqlQuery) []*record {
	all := o.ordered[strings.ToLower(q.obj.Name)]
	ids, ok := idsNamed(q.where)
	if !ok {
		return all
	}
	recs := o.recs[strings.ToLower(q.obj.Name)]
	seen := map[*record]bool{}
	var out []*record
	for _, id := range ids {
		r := recs[id]
		if r == nil {
			return all
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pos < out[j].pos })
	return out
}

// idsNamed returns the ids an Id = or Id IN condition in c's top-level AND
// chain restricts the result to.
func idsNamed(c cond) ([]string, bool) {
	switch c := c.(type) {
	case andCond:
		if ids, ok := idsNamed(c.a); ok {
			return ids, true
		}
		return idsNamed(c.b)
	case cmpCond:
		if !strings.EqualFold(c.path, "Id") || c.not || (c.op != "=" && c.op != "IN") {
			return nil, false
		}
		ids := make([]string, 0, len(c.vals))
		for _, v := range c.vals {
			if s, ok := v.(string); ok {
				ids = append(ids, s)
			}
		}
		return ids, true
	}
	return nil, false
}

func (o *org) fieldAt(obj *objectMeta, path string) *fieldMeta {
	parts := strings.Split(path, ".")
	for _, part := range parts[:len(parts)-1] {
		obj = o.object(obj.rel(part).ReferenceTo[0])
	}
	return obj.field(parts[len(parts)-1])
}

// jsonRecord renders r with the selected fields, nesting parent paths the way
// REST query results do.
func (o *org) jsonRecord(r *record, fields []string, version string) map[string]any {
	out := map[string]any{"attributes": attrs(r, version)}
	for _, path := range fields {
		parts := strings.Split(path, ".")
		if len(parts) == 1 {
			out[path] = r.value(path)
			continue
		}
		cur, target := r, out
		for i, part := range parts[:len(parts)-1] {
			rf := cur.obj.rel(part)
			id, _ := cur.f[rf.Name].(string)
			var parent *record
			if id != "" {
				parent = o.get(o.refTarget(rf, id), id)
			}
			if parent == nil {
				if _, exists := target[part]; !exists {
					target[part] = nil
				}
				break
			}
			sub, ok := target[part].(map[string]any)
			if !ok {
				sub = map[string]any{"attributes": attrs(parent, version)}
				target[part] = sub
			}
			if i == len(parts)-2 {
				sub[parts[len(parts)-1]] = parent.value(parts[len(parts)-1])
			}
			cur, target = parent, sub
		}
	}
	return out
}

func attrs(r *record, version string) map[string]any {
	return map[string]any{"type": r.obj.Name, "url": "/services/data/v" + version + "/sobjects/" + r.obj.Name + "/" + r.id}
}

// refTarget is the object a reference value points to: for polymorphic
// lookups (Task.WhoId, Task.WhatId) the one whose key prefix the id carries.
func (o *org) refTarget(rf *fieldMeta, id string) *objectMeta {
	for _, to := range rf.ReferenceTo {
		if meta := o.object(to); meta != nil && strings.HasPrefix(id, meta.KeyPrefix) {
			return meta
		}
	}
	return o.object(rf.ReferenceTo[0])
}
