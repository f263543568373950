package cache

import (
	"fmt"
	"reflect"
	"strconv"
)

// defaultKeyFunc formats strings as they are and integers in decimal (including named types over them), and
// anything else with fmt.Sprint.
func defaultKeyFunc[K comparable]() func(K) string {
	switch reflect.TypeFor[K]().Kind() {
	case reflect.String:
		return func(k K) string { return reflect.ValueOf(k).String() }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(k K) string { return strconv.FormatInt(reflect.ValueOf(k).Int(), 10) }
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return func(k K) string { return strconv.FormatUint(reflect.ValueOf(k).Uint(), 10) }
	}
	return func(k K) string { return fmt.Sprint(k) }
}

// defaultKeyParser inverts defaultKeyFunc for strings and integers; it returns nil for other kinds.
func defaultKeyParser[K comparable]() func(string) (K, error) {
	t := reflect.TypeFor[K]()
	switch t.Kind() {
	case reflect.String:
		return func(s string) (K, error) {
			var k K
			reflect.ValueOf(&k).Elem().SetString(s)
			return k, nil
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(s string) (K, error) {
			var k K
			n, err := strconv.ParseInt(s, 10, t.Bits())
			if err == nil {
				reflect.ValueOf(&k).Elem().SetInt(n)
			}
			return k, err
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return func(s string) (K, error) {
			var k K
			n, err := strconv.ParseUint(s, 10, t.Bits())
			if err == nil {
				reflect.ValueOf(&k).Elem().SetUint(n)
			}
			return k, err
		}
	}
	return nil
}
