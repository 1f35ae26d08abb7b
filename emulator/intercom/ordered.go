package intercom

// ordered keeps objects by id in creation order: lookups and replacements
// are O(1), and listings (list, scroll, search) see a stable order.
type ordered[T any] struct {
	byID map[string]T
	pos  map[string]int
	list []T
}

func newOrdered[T any]() ordered[T] {
	return ordered[T]{byID: map[string]T{}, pos: map[string]int{}}
}

// get returns the object with id, or the zero value.
func (o *ordered[T]) get(id string) T { return o.byID[id] }

// put stores v under id, replacing in place; it returns the previous
// object and whether there was one.
func (o *ordered[T]) put(id string, v T) (T, bool) {
	old, ok := o.byID[id]
	if ok {
		o.list[o.pos[id]] = v
	} else {
		o.pos[id] = len(o.list)
		o.list = append(o.list, v)
	}
	o.byID[id] = v
	return old, ok
}
