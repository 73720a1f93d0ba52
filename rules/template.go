package rules

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unsafe"

	"github.com/riskd/riskd/features"
)

// Template is a rule's reason message with placeholders for feature values: "travelled {travel_km} km at
// {travel_kmh} km/h". Placeholders are checked against the feature vector when the rule compiles; formatting
// reads the fields at their offsets and allocates nothing when the destination has room.
type Template struct {
	segments []segment
}

type segment struct {
	literal string
	kind    reflect.Kind // 0 for a literal
	offset  uintptr
}

// parseTemplate splits msg at {name} placeholders. It returns nil when msg has none, so that the common
// static message costs nothing.
func parseTemplate(msg string) (*Template, error) {
	if !strings.Contains(msg, "{") {
		return nil, nil
	}
	fields := map[string]reflect.StructField{}
	t := reflect.TypeFor[features.Vector]()
	for _, f := range features.Fields() {
		fields[f.Name] = t.Field(f.Index)
	}
	var tmpl Template
	for rest := msg; rest != ""; {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			tmpl.segments = append(tmpl.segments, segment{literal: rest})
			break
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("reason: %q has an unclosed {", msg)
		}
		name := rest[open+1 : open+end]
		sf, ok := fields[name]
		if !ok {
			return nil, fmt.Errorf("reason: {%s} is not a feature (see riskd features)", name)
		}
		if open > 0 {
			tmpl.segments = append(tmpl.segments, segment{literal: rest[:open]})
		}
		tmpl.segments = append(tmpl.segments, segment{kind: sf.Type.Kind(), offset: sf.Offset})
		rest = rest[open+end+1:]
	}
	return &tmpl, nil
}

// Append appends the message for v to b.
func (t *Template) Append(b []byte, v *features.Vector) []byte {
	base := unsafe.Pointer(v)
	for _, s := range t.segments {
		p := unsafe.Add(base, s.offset)
		switch s.kind {
		case 0:
			b = append(b, s.literal...)
		case reflect.Bool:
			b = strconv.AppendBool(b, *(*bool)(p))
		case reflect.Int:
			b = strconv.AppendInt(b, int64(*(*int)(p)), 10)
		case reflect.Float64:
			b = appendReadable(b, *(*float64)(p))
		case reflect.String:
			b = append(b, *(*string)(p)...)
		}
	}
	return b
}

// appendReadable writes f with the precision a person reads: whole numbers from 100, one decimal from 1, two
// below.
func appendReadable(b []byte, f float64) []byte {
	switch a := math.Abs(f); {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return append(b, '-')
	case a >= 100:
		return strconv.AppendFloat(b, f, 'f', 0, 64)
	case a >= 1:
		return strconv.AppendFloat(b, f, 'f', 1, 64)
	}
	return strconv.AppendFloat(b, f, 'f', 2, 64)
}
