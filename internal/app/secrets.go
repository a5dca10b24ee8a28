package app

import (
	"reflect"

	"github.com/airgw/airgw/internal/config"
)

// ConfigSecrets returns every secret value in cfg (every field of type
// config.Secret, wherever it is), for the log to mask. Walking the type
// keeps the list complete as secret fields are added.
func ConfigSecrets(cfg *config.Config) []string {
	var out []string
	secretType := reflect.TypeFor[config.Secret]()
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Map:
			for it := v.MapRange(); it.Next(); {
				walk(it.Value())
			}
		case reflect.String:
			if v.Type() == secretType && v.String() != "" {
				out = append(out, v.String())
			}
		}
	}
	walk(reflect.ValueOf(cfg))
	return out
}
