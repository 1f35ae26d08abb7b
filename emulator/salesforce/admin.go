package salesforce

import (
	"fmt"
	"strings"
)

// DefineField adds a custom field to an object, or changes the type of an
// existing custom field, as an org admin does in Setup: describe, SOQL and
// writes see it at once. Values already stored are kept as they are (a
// real org converts or refuses them; tests use it to make ferry meet a
// type change). soapType is a describe type: string, double, boolean, date,
// datetime, int, picklist, ...
func (s *Server) DefineField(object, name, soapType string) error {
	o := s.org
	o.mu.Lock()
	defer o.mu.Unlock()
	meta := o.object(object)
	if meta == nil {
		return fmt.Errorf("no object %s", object)
	}
	if !strings.HasSuffix(name, "__c") {
		return fmt.Errorf("custom field names end in __c: %s", name)
	}
	if f := meta.field(name); f != nil {
		f.Type = soapType
		return nil
	}
	f := typed(name, soapType)
	if soapType == "string" {
		f.Length = 255
	}
	f.Custom = true
	meta.Fields = append(meta.Fields, f)
	meta.byName[strings.ToLower(name)] = f
	return nil
}
