package daemon

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestWithConfigFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, file string
		args, want []string
		err        bool
	}{
		{"missing file", filepath.Join(dir, "none"), []string{"-x"}, []string{"-x"}, false},
		{"flags first", write("a", "# logs on disk\n--log-dir=/var/log\n\n  --log-files=5  \n"), []string{"--log-files=2"},
			[]string{"--log-dir=/var/log", "--log-files=5", "--log-files=2"}, false},
		{"not a flag", write("b", "log-dir /var/log\n"), []string{"-x"}, []string{"-x"}, true},
	} {
		got, err := withConfigFile(tc.file, tc.args)
		if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %q, %v; want %q, error %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}
