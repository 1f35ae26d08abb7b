package salesforce

import "strings"

// GET query?q=...&columns=true answers the query's columns instead of its
// rows: the shape the Salesforce CLI's `sf data query` reads to lay out
// its table (plugin-data lib/commands/data/query.js, retrieveColumns:
// columnMetadata[].columnName, joinColumns for parent paths, aggregate and
// displayName for functions). Salesforce does not document it; the fields
// are those the Developer Console and the CLI read.

// colNode is a column and, for a relationship, the parent's columns.
type colNode struct {
	m    map[string]any
	kids []*colNode
	rels map[string]*colNode // relationship columns among kids, by lower-case name
}

func (n *colNode) json() map[string]any {
	joins := make([]map[string]any, len(n.kids))
	for i, k := range n.kids {
		joins[i] = k.json()
	}
	n.m["joinColumns"] = joins
	return n.m
}

// columnMetadata renders the columns of sq.
func (o *org) columnMetadata(sq *soqlQuery) map[string]any {
	root := &colNode{rels: map[string]*colNode{}}
	if sq.count {
		root.kids = append(root.kids, &colNode{m: column(nil, "expr0", "COUNT()", true)})
	}
	idSelected := false
	for _, path := range sq.fields {
		parts := strings.Split(path, ".")
		node, obj := root, sq.obj
		// A parent path (Owner.Email): one column per relationship, the
		// parent's fields as its join columns, hop by hop.
		for _, part := range parts[:len(parts)-1] {
			rf := obj.rel(part)
			next := node.rels[strings.ToLower(rf.RelationshipName)]
			if next == nil {
				m := column(nil, rf.RelationshipName, rf.RelationshipName, false)
				m["foreignKeyName"] = rf.Name
				next = &colNode{m: m, rels: map[string]*colNode{}}
				node.rels[strings.ToLower(rf.RelationshipName)] = next
				node.kids = append(node.kids, next)
			}
			node, obj = next, o.refTarget(rf, "")
		}
		f := obj.field(parts[len(parts)-1])
		idSelected = idSelected || len(parts) == 1 && f != nil && f.Name == "Id"
		node.kids = append(node.kids, &colNode{m: column(f, parts[len(parts)-1], parts[len(parts)-1], false)})
	}
	cols := make([]map[string]any, len(root.kids))
	for i, k := range root.kids {
		cols[i] = k.json()
	}
	return map[string]any{"columnMetadata": cols, "entityName": sq.obj.Name, "groupBy": false, "idSelected": idSelected, "keyPrefix": sq.obj.KeyPrefix}
}

// column is one entry of columnMetadata; f is nil for a relationship or a
// function.
func column(f *fieldMeta, name, display string, aggregate bool) map[string]any {
	c := map[string]any{"aggregate": aggregate, "apexType": nil, "booleanType": false, "columnName": name, "custom": false,
		"displayName": display, "foreignKeyName": nil, "insertable": false, "joinColumns": []map[string]any{}, "numberType": aggregate,
		"textType": false, "updatable": false}
	if f != nil {
		c["columnName"], c["displayName"] = f.Name, f.Name
		c["apexType"] = apexType(f.Type)
		c["booleanType"] = f.Type == "boolean"
		c["numberType"] = f.Type == "int" || f.Type == "double" || f.Type == "currency" || f.Type == "percent"
		c["textType"] = strings.HasPrefix(soapType(f.Type), "xsd:string")
		c["custom"], c["insertable"], c["updatable"] = f.Custom, f.Createable, f.Updateable
	}
	if aggregate {
		c["apexType"] = "Integer"
	}
	return c
}

// apexType is the Apex type of a describe field type.
func apexType(t string) string {
	switch t {
	case "id", "reference":
		return "Id"
	case "boolean":
		return "Boolean"
	case "currency", "double", "percent":
		return "Double"
	case "int":
		return "Integer"
	case "date":
		return "Date"
	case "datetime":
		return "Datetime"
	}
	return "String"
}
