package backtest

import (
	"reflect"
	"unsafe"

	"github.com/valyala/fastjson"

	"github.com/riskd/riskd/features"
)

// vectorDecoder fills a features.Vector from the "features" object of a log record, by field name. The
// layout is computed once; decoding reads no reflection.
type vectorDecoder struct {
	fields []decodedField
	byName map[string]int
}

type decodedField struct {
	name   string
	kind   reflect.Kind
	offset uintptr
}

func newVectorDecoder() *vectorDecoder {
	t := reflect.TypeFor[features.Vector]()
	d := &vectorDecoder{byName: map[string]int{}}
	for _, f := range features.Fields() {
		sf := t.Field(f.Index)
		d.byName[f.Name] = len(d.fields)
		d.fields = append(d.fields, decodedField{name: f.Name, kind: sf.Type.Kind(), offset: sf.Offset})
	}
	return d
}

// decode fills v from o. Strings alias the parser's memory: v is valid until the parser's next Parse.
// Unknown names (a log from a newer riskd) are ignored; missing ones stay zero.
func (d *vectorDecoder) decode(o *fastjson.Object, v *features.Vector) {
	*v = features.Vector{}
	base := unsafe.Pointer(v)
	pos := 0
	o.Visit(func(key []byte, jv *fastjson.Value) {
		// The log writes fields in declaration order, so the next field is almost always the expected one.
		i := pos
		if i >= len(d.fields) || d.fields[i].name != string(key) {
			var ok bool
			if i, ok = d.byName[string(key)]; !ok {
				return
			}
		}
		pos = i + 1
		f := &d.fields[i]
		p := unsafe.Add(base, f.offset)
		switch f.kind {
		case reflect.Bool:
			*(*bool)(p) = jv.Type() == fastjson.TypeTrue
		case reflect.Int:
			*(*int)(p) = jv.GetInt()
		case reflect.Float64:
			*(*float64)(p) = jv.GetFloat64()
		case reflect.String:
			b := jv.GetStringBytes()
			*(*string)(p) = unsafe.String(unsafe.SliceData(b), len(b))
		}
	})
}
