package config

import (
	"fmt"
	"reflect"
	"strings"
)

// SecretRefs lists every secret reference set in the config by its field
// path (e.g. "sources[1].postgres.password"), in field order.
func (c *Config) SecretRefs() []FieldSecret {
	var out []FieldSecret
	collectSecrets(reflect.ValueOf(c).Elem(), "", &out)
	return out
}

// FieldSecret is one secret reference and where it is set.
type FieldSecret struct {
	Path string
	Ref  SecretRef
}

var secretRefType = reflect.TypeFor[SecretRef]()

func collectSecrets(v reflect.Value, path string, out *[]FieldSecret) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			collectSecrets(v.Elem(), path, out)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			collectSecrets(v.Field(i), join(path, name), out)
		}
	case reflect.Slice:
		for i := range v.Len() {
			collectSecrets(v.Index(i), fmt.Sprintf("%s[%d]", path, i), out)
		}
	case reflect.String:
		if v.Type() == secretRefType && v.String() != "" {
			*out = append(*out, FieldSecret{Path: path, Ref: SecretRef(v.String())})
		}
	}
}
