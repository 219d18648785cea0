package cli

import (
	"reflect"
	"testing"
)

func TestLongFlags(t *testing.T) {
	got := longFlags([]string{"build", "-format", "kernel+initrd", "-dir=out", "-", "--name", "x", "-v"})
	want := []string{"build", "--format", "kernel+initrd", "--dir=out", "-", "--name", "x", "-v"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
