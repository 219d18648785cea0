package cloudtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ARM stands in for Azure Resource Manager's resource shapes that keel
// run azure uses, in subscription Sub and resource group RG: GET, PUT,
// PATCH and DELETE of any resource (PUT, PATCH and DELETE long-running,
// answered 201/202 with an Azure-AsyncOperation URL that is InProgress at
// the first look and Succeeded at the next), a VM's
// instanceView and retrieveBootDiagnosticsData, and the serial log blob
// those point at. A VM's PUT makes its OS disk too, as Azure does.
//
// Each call is recorded in Calls as "METHOD SHORT", SHORT the path after
// the resource group's providers/ (e.g. Microsoft.Compute/virtualMachines/vm1),
// "operations/N" or "blob". Fail queues answers given before the real
// one, by that key: errors, or an operation's status ({"status":"Failed",
// "error":{...}}) to end it with.
type ARM struct {
	mu    sync.Mutex
	Calls []string
	// Resources by SHORT path, as last PUT (with id and name).
	Resources map[string]map[string]any
	Fail      map[string][]Answer
	// SerialLog is the VM's serial log; each instanceView reveals Step
	// more bytes of it, and the VM is stopped once all are revealed.
	SerialLog string
	Step      int
	// InUse refuses a virtual network's deletion as Azure does while an
	// interface is in it.
	InUse bool

	ops      map[string]int
	revealed int
}

// Answer is an HTTP answer queued in ARM.Fail.
type Answer struct {
	Code int
	Body string
}

// Sub and RG are the subscription and resource group ARM serves.
const (
	Sub = "00000000-0000-0000-0000-000000000001"
	RG  = "rg"
)

// NewARM returns an ARM with no resources.
func NewARM() *ARM {
	return &ARM{Resources: map[string]map[string]any{}, Fail: map[string][]Answer{}, ops: map[string]int{}, Step: 1 << 20}
}

// ID is the resource ID of a SHORT path.
func (f *ARM) ID(short string) string {
	return "/subscriptions/" + Sub + "/resourceGroups/" + RG + "/providers/" + short
}

// Put stores a resource as if it had been made.
func (f *ARM) Put(short string, body map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body["id"] = f.ID(short)
	body["name"] = short[strings.LastIndex(short, "/")+1:]
	f.Resources[strings.ToLower(short)] = body
}

func (f *ARM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rgPrefix := "/subscriptions/" + Sub + "/resourceGroups/" + RG + "/providers/"
	opPrefix := "/subscriptions/" + Sub + "/providers/Microsoft.Network/locations/westeurope/operations/"
	var short string
	switch {
	case strings.HasPrefix(r.URL.Path, rgPrefix):
		short = strings.TrimPrefix(r.URL.Path, rgPrefix)
	case strings.HasPrefix(r.URL.Path, opPrefix):
		short = "operations/" + strings.TrimPrefix(r.URL.Path, opPrefix)
	case r.URL.Path == "/blob/serial.log":
		short = "blob"
	default:
		short = r.URL.Path
	}
	key := r.Method + " " + short
	f.Calls = append(f.Calls, key)
	if q := f.Fail[key]; len(q) > 0 {
		f.Fail[key] = q[1:]
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(q[0].Code)
		io.WriteString(w, q[0].Body)
		return
	}
	if short == "blob" {
		if r.URL.Query().Get("sig") == "" {
			w.WriteHeader(403)
			return
		}
		http.ServeContent(w, r, "serial.log", time.Time{}, strings.NewReader(f.SerialLog[:f.revealed]))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Query().Get("api-version") == "" {
		w.WriteHeader(400)
		io.WriteString(w, ARMError("MissingApiVersionParameter", "no api-version"))
		return
	}
	newOp := func() {
		id := fmt.Sprint(len(f.ops) + 1)
		f.ops[id] = 0
		op := "https://" + r.Host + opPrefix + id + "?api-version=2024-07-01"
		w.Header().Set("Azure-AsyncOperation", op)
	}
	lk := strings.ToLower(short)
	name := short[strings.LastIndex(short, "/")+1:]
	switch {
	case strings.HasPrefix(short, "operations/"):
		id := strings.TrimPrefix(short, "operations/")
		looks, ok := f.ops[id]
		if !ok {
			w.WriteHeader(404)
			io.WriteString(w, ARMError("NotFound", "no operation "+id))
			return
		}
		f.ops[id] = looks + 1
		if looks == 0 {
			io.WriteString(w, `{"status":"InProgress"}`)
		} else {
			io.WriteString(w, `{"status":"Succeeded"}`)
		}
	case r.Method == http.MethodGet && strings.HasSuffix(lk, "/instanceview"):
		f.revealed = min(len(f.SerialLog), f.revealed+f.Step)
		state := "running"
		if f.revealed == len(f.SerialLog) {
			state = "stopped"
		}
		fmt.Fprintf(w, `{"statuses":[{"code":"ProvisioningState/succeeded"},{"code":"PowerState/%s"}]}`, state)
	case r.Method == http.MethodPost && strings.HasSuffix(lk, "/retrievebootdiagnosticsdata"):
		fmt.Fprintf(w, `{"consoleScreenshotBlobUri":"https://%s/blob/shot.bmp?sig=x","serialConsoleLogBlobUri":"https://%s/blob/serial.log?sig=x"}`, r.Host, r.Host)
	case r.Method == http.MethodGet:
		res, ok := f.Resources[lk]
		if !ok {
			w.WriteHeader(404)
			io.WriteString(w, ARMError("ResourceNotFound", "The Resource '"+short+"' under resource group '"+RG+"' was not found."))
			return
		}
		json.NewEncoder(w).Encode(res)
	case r.Method == http.MethodPut:
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(400)
			io.WriteString(w, ARMError("InvalidRequestContent", err.Error()))
			return
		}
		body["id"], body["name"] = f.ID(short), name
		if props, ok := body["properties"].(map[string]any); ok {
			for _, s := range anySlice(props["subnets"]) {
				s["id"] = f.ID(short) + "/subnets/" + fmt.Sprint(s["name"])
			}
		}
		newOp()
		f.Resources[lk] = body
		if strings.HasPrefix(lk, "microsoft.compute/virtualmachines/") {
			f.makeDisk(body)
		}
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(body)
	case r.Method == http.MethodPatch:
		res, ok := f.Resources[lk]
		if !ok {
			w.WriteHeader(404)
			io.WriteString(w, ARMError("ResourceNotFound", "no "+short))
			return
		}
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		if tags, ok := body["tags"]; ok {
			res["tags"] = tags
		}
		newOp()
		w.WriteHeader(202)
	case r.Method == http.MethodDelete:
		if _, ok := f.Resources[lk]; !ok {
			w.WriteHeader(204)
			return
		}
		if f.InUse && strings.HasPrefix(lk, "microsoft.network/virtualnetworks/") {
			w.WriteHeader(400)
			io.WriteString(w, ARMError("InUseSubnetCannotBeDeleted", "Subnet default is in use by another interface and cannot be deleted."))
			return
		}
		delete(f.Resources, lk)
		newOp()
		w.WriteHeader(202)
	default:
		w.WriteHeader(400)
		io.WriteString(w, ARMError("BadRequest", "unexpected call "+key))
	}
}

// makeDisk stores the OS disk a VM's PUT names, untagged as Azure makes
// it.
func (f *ARM) makeDisk(vm map[string]any) {
	var v struct {
		Properties struct {
			StorageProfile struct {
				OSDisk struct {
					Name string `json:"name"`
				} `json:"osDisk"`
			} `json:"storageProfile"`
		} `json:"properties"`
	}
	b, _ := json.Marshal(vm)
	json.NewDecoder(bytes.NewReader(b)).Decode(&v)
	if n := v.Properties.StorageProfile.OSDisk.Name; n != "" {
		short := "Microsoft.Compute/disks/" + n
		f.Resources[strings.ToLower(short)] = map[string]any{"id": f.ID(short), "name": n, "location": vm["location"], "properties": map[string]any{}}
	}
}

func anySlice(v any) []map[string]any {
	l, _ := v.([]any)
	var out []map[string]any
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
