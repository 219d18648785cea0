package bundle

import (
	"bytes"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the keel.json decoder: it must never
// panic, and whatever it accepts must encode to a canonical form that
// parses back to the same encoding.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version":1,"name":"a","phase":"service","restart":"on-failure:3","stopTimeout":"10s","dependsOn":["db"],` +
		`"healthcheck":{"tcp":"127.0.0.1:80","interval":"1s","retries":3},"console":true}`))
	f.Add([]byte(`{"version":1,"timeout":"5m","runtime":{"mkdir":["/var/x"],"interfaces":[{"name":"eth1","add":"veth","peer":"p"}]}}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"stopTimeout":"forever"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := Parse(b)
		if err != nil {
			return
		}
		out, err := Marshal(k)
		if err != nil {
			t.Fatalf("Marshal of an accepted keel.json: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parsing our own encoding: %v\n%s", err, out)
		}
		out2, err := Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the content:\n%s\n%s", out, out2)
		}
	})
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{`{"version":2}`, `{"version":1,"stopTimeout":"soon"}`, `not json`, `{"version":1,"dependsOn":"db"}`} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%s): got nil error", in)
		}
	}
}
