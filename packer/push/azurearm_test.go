package push

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/keel-os/keel/packer/cloudtest"
)

const (
	testSub = "00000000-0000-0000-0000-000000000001"
	testRG  = "rg"
)

// fakeARM speaks the ARM shapes keel push azure uses: a managed image's
// GET, PUT and DELETE under the resource group, each PUT and DELETE a
// long-running operation answered 201/202 with an Azure-AsyncOperation
// URL whose status is InProgress at the first look and Succeeded (or
// opFail's error) at the next. fail queues error answers given before
// the real one, by "METHOD short-path".
type fakeARM struct {
	mu     sync.Mutex
	url    string
	calls  []string
	images map[string]map[string]any
	ops    map[string]int
	fail   map[string][]fakeAnswer
	opFail string // the error body of the next operation to end
	opErr  map[string]string
	put    map[string]any // the last PUT body
	auth   []string       // the Authorization headers seen
}

func newFakeARM() *fakeARM {
	return &fakeARM{images: map[string]map[string]any{}, ops: map[string]int{}, fail: map[string][]fakeAnswer{}, opErr: map[string]string{}}
}

var armErr = cloudtest.ARMError

func (f *fakeARM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	imgPrefix := "/subscriptions/" + testSub + "/resourceGroups/" + testRG + "/providers/Microsoft.Compute/images/"
	opPrefix := "/subscriptions/" + testSub + "/providers/Microsoft.Compute/locations/westeurope/operations/"
	short := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, imgPrefix), opPrefix)
	switch {
	case strings.HasPrefix(r.URL.Path, imgPrefix):
		short = "images/" + short
	case strings.HasPrefix(r.URL.Path, opPrefix):
		short = "operations/" + short
	}
	key := r.Method + " " + short
	f.calls = append(f.calls, key)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Query().Get("api-version") == "" {
		w.WriteHeader(400)
		io.WriteString(w, armErr("MissingApiVersionParameter", "no api-version"))
		return
	}
	if q := f.fail[key]; len(q) > 0 {
		f.fail[key] = q[1:]
		w.WriteHeader(q[0].code)
		io.WriteString(w, q[0].body)
		return
	}
	newOp := func() {
		id := fmt.Sprint(len(f.ops) + 1)
		f.ops[id] = 0
		if f.opFail != "" {
			f.opErr[id], f.opFail = f.opFail, ""
		}
		op := "https://" + r.Host + opPrefix + id + "?api-version=2024-07-01"
		w.Header().Set("Azure-AsyncOperation", op)
		w.Header().Set("Location", op)
	}
	name := strings.TrimPrefix(short, "images/")
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(short, "images/"):
		img, ok := f.images[name]
		if !ok {
			w.WriteHeader(404)
			io.WriteString(w, armErr("ResourceNotFound", "The Resource 'Microsoft.Compute/images/"+name+"' under resource group 'rg' was not found."))
			return
		}
		json.NewEncoder(w).Encode(img)
	case r.Method == http.MethodPut && strings.HasPrefix(short, "images/"):
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(400)
			io.WriteString(w, armErr("InvalidRequestContent", err.Error()))
			return
		}
		f.put = body
		body["id"] = imgPrefix + name
		body["name"] = name
		body["properties"].(map[string]any)["provisioningState"] = "Creating"
		newOp()
		if f.opErr[fmt.Sprint(len(f.ops))] == "" {
			f.images[name] = body
		}
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(body)
	case r.Method == http.MethodDelete && strings.HasPrefix(short, "images/"):
		delete(f.images, name)
		newOp()
		w.WriteHeader(202)
	case r.Method == http.MethodGet && strings.HasPrefix(short, "operations/"):
		id := strings.TrimPrefix(short, "operations/")
		looks, ok := f.ops[id]
		if !ok {
			w.WriteHeader(404)
			io.WriteString(w, armErr("NotFound", "no operation "+id))
			return
		}
		f.ops[id] = looks + 1
		switch {
		case looks == 0:
			io.WriteString(w, `{"status":"InProgress"}`)
		case f.opErr[id] != "":
			fmt.Fprintf(w, `{"status":"Failed",%s}`, strings.TrimSuffix(strings.TrimPrefix(f.opErr[id], "{"), "}"))
		default:
			io.WriteString(w, `{"status":"Succeeded"}`)
		}
	default:
		w.WriteHeader(400)
		io.WriteString(w, armErr("BadRequest", "unexpected call "+key))
	}
}
