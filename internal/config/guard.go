package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Limits on a pipeline file, checked on its syntax tree before anything
// is decoded: a file is a few kilobytes, and aliases that expand it a
// thousandfold are an attack or a mistake (a 1.3 KB alias bomb once took
// 76 s and 14 GiB before it was refused).
const (
	MaxFileBytes     = 1 << 20
	MaxExpandedNodes = 100_000
)

// bounded reports the first alias that makes the document expand past
// MaxExpandedNodes, counting every alias as the nodes of what it names.
func bounded(file *ast.File) ast.Node {
	c := &nodeCounter{anchors: map[string]int{}}
	for _, doc := range file.Docs {
		if doc != nil && doc.Body != nil {
			ast.Walk(c, doc.Body)
		}
		if c.over != nil {
			return c.over
		}
	}
	return nil
}

type nodeCounter struct {
	anchors map[string]int // anchor name -> nodes its value expands to
	n       int
	over    ast.Node
}

func (c *nodeCounter) Visit(n ast.Node) ast.Visitor {
	if n == nil || c.over != nil {
		return nil
	}
	switch n := n.(type) {
	case *ast.AnchorNode:
		sub := &nodeCounter{anchors: c.anchors}
		if n.Value != nil {
			ast.Walk(sub, n.Value)
		}
		if sub.over != nil {
			c.over = sub.over
			return nil
		}
		c.anchors[n.Name.String()] = sub.n
		c.add(n, sub.n)
		return nil
	case *ast.AliasNode:
		c.add(n, max(c.anchors[n.Value.String()], 1))
		return nil
	}
	c.add(n, 1)
	return c
}

func (c *nodeCounter) add(n ast.Node, k int) {
	c.n += k
	if c.n > MaxExpandedNodes && c.over == nil {
		c.over = n
	}
}

// nodeAt finds the node of file whose token starts at pos.
func nodeAt(file *ast.File, pos *token.Position) ast.Node {
	if file == nil || pos == nil {
		return nil
	}
	f := &finder{line: pos.Line, col: pos.Column}
	for _, doc := range file.Docs {
		if doc != nil && doc.Body != nil {
			ast.Walk(f, doc.Body)
		}
	}
	return f.found
}

type finder struct {
	line, col int
	found     ast.Node
}

func (f *finder) Visit(n ast.Node) ast.Visitor {
	if n == nil {
		return nil
	}
	if t := n.GetToken(); t != nil && t.Position.Line == f.line && t.Position.Column == f.col {
		if _, pair := n.(*ast.MappingValueNode); !pair || f.found == nil {
			f.found = n // the innermost node at the position wins
		}
	}
	return f
}

var (
	goTypeRe    = regexp.MustCompile(`^cannot unmarshal (.+) into Go (?:struct field|value) (?:\S+ )?of type (.+)$`)
	usedWhereRe = regexp.MustCompile(`^(\S+) was used where (\S+) is expected$`)
)

// plainMessage rewords a decoding error in the pipeline file's own terms
// (what a key expects, what it got), instead of Go's types.
func plainMessage(msg string) string {
	if m := goTypeRe.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("expected %s, got %s", kindOf(m[2]), kindOf(m[1]))
	}
	if m := usedWhereRe.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("expected %s, got %s", kindOf(m[2]), kindOf(m[1]))
	}
	return msg
}

// kindOf names a Go or YAML type as a pipeline file's author knows it.
func kindOf(t string) string {
	t = strings.TrimPrefix(t, "*")
	switch {
	case t == "string":
		return "text"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case strings.HasPrefix(t, "[]") || t == "sequence":
		return "a list"
	case strings.HasPrefix(t, "map[") || t == "mapping" || strings.HasPrefix(t, "config."):
		return "a mapping (key: value lines)"
	}
	return t
}
