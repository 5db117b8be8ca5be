package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// Bounds on the work of one PATCH.
//
// A patch body is at most --max-request-bytes, but what applying it costs is
// not bounded by its size alone: a JSON patch of N "copy" operations can
// double the document N times, and a strategic merge compares every element
// of a merged list in the patch with every element of the list it merges
// into. Each kind of patch is therefore checked, before it is applied, for
// the work it would do, and refused with 413 RequestEntityTooLarge when that
// is over its bound; the patched object is then bounded like any other by
// registry.MaxObjectBytes. A JSON merge patch (RFC 7386) costs time linear in
// the sizes of the patch and the object and needs no bound of its own.

// maxJSONPatchOperations is the most operations one JSON patch may hold, as
// in kube-apiserver.
const maxJSONPatchOperations = 10000

// jsonPatchMaxCopyBytes bounds the bytes "copy" operations of one JSON patch
// may add to the document, kube-apiserver's default (JSONPatchMaxCopyBytes).
const jsonPatchMaxCopyBytes = 3 << 20

// strategicMergeBudget bounds the list-element comparisons of one strategic
// merge patch: the elements of the lists it merges (and of its directive
// lists) times the length of the longest list they may be compared with.
// kubectl apply of an object with lists of a few hundred elements costs a
// few hundred thousand; the budget leaves room for ten times that, and keeps
// the worst case near a tenth of a second of CPU here.
const strategicMergeBudget = 4 << 20

var setCopyLimit sync.Once

// checkJSONPatch bounds a decoded JSON patch: its number of operations, and
// (through the json-patch library, whose limit is a package variable, set
// once here to a constant) the bytes its copies may add.
func checkJSONPatch(p jsonpatch.Patch) error {
	setCopyLimit.Do(func() { jsonpatch.AccumulatedCopySizeLimit = jsonPatchMaxCopyBytes })
	if len(p) > maxJSONPatchOperations {
		return apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("The allowed maximum operations in a JSON patch is %d, got %d", maxJSONPatchOperations, len(p)))
	}
	return nil
}

// jsonPatchTooLarge turns the library's copy-limit error into a 413.
func jsonPatchTooLarge(err error) error {
	var ce *jsonpatch.AccumulatedCopySizeError
	if errors.As(err, &ce) {
		return apierrors.NewRequestEntityTooLargeError(ce.Error())
	}
	return nil
}

// checkStrategicMerge refuses a strategic merge patch whose list merging
// would cost more than strategicMergeBudget against the current object cur.
// schema is an empty object of the kind.
func checkStrategicMerge(patch, cur []byte, schema runtime.Object) error {
	var p map[string]any
	if err := json.Unmarshal(patch, &p); err != nil {
		return apierrors.NewBadRequest("the patch is not a JSON object: " + err.Error())
	}
	meta, err := strategicpatch.NewPatchMetaFromStruct(schema)
	if err != nil {
		return err
	}
	elems, longest := mergedElements(p, meta)
	if elems == 0 {
		return nil
	}
	longest = max(longest, longestArray(cur), 1)
	if work := elems * longest; work > strategicMergeBudget {
		return apierrors.NewRequestEntityTooLargeError(fmt.Sprintf(
			"the strategic merge patch would compare %d list elements with lists of up to %d elements, more than the limit of %d comparisons: send fewer list elements at once, or use a JSON merge patch or an update",
			elems, longest, strategicMergeBudget))
	}
	return nil
}

// mergedElements counts the elements of the lists of patch that a strategic
// merge compares with the object's: lists whose patch strategy is merge,
// and the directive lists ($setElementOrder, $deleteFromPrimitiveList,
// $retainKeys). It also returns the longest of them. Lists that replace
// the object's (no merge strategy) cost time linear in their size and are
// not counted; nor are parts of the patch the schema does not describe.
func mergedElements(patch map[string]any, meta strategicpatch.LookupPatchMeta) (elems, longest int) {
	for k, v := range patch {
		if strings.HasPrefix(k, "$") {
			if l, ok := v.([]any); ok {
				elems += len(l)
				longest = max(longest, len(l))
			}
			continue
		}
		switch v := v.(type) {
		case map[string]any:
			sub, _, err := meta.LookupPatchMetadataForStruct(k)
			if err != nil {
				continue
			}
			e, l := mergedElements(v, sub)
			elems, longest = elems+e, max(longest, l)
		case []any:
			sub, pm, err := meta.LookupPatchMetadataForSlice(k)
			if err != nil || !slices.Contains(pm.GetPatchStrategies(), "merge") {
				continue
			}
			elems += len(v)
			longest = max(longest, len(v))
			for _, item := range v {
				if m, ok := item.(map[string]any); ok {
					e, l := mergedElements(m, sub)
					elems, longest = elems+e, max(longest, l)
				}
			}
		}
	}
	return elems, longest
}

// longestArray returns the number of elements of the longest JSON array in
// data, which must be valid JSON, in one pass over its bytes.
func longestArray(data []byte) int {
	// counts[i] is the element count of the i-th enclosing container so far
	// (-1 for an object); seen[i] says whether it has an element yet.
	var counts []int
	var seen []bool
	longest := 0
	inString, escaped := false, false
	for _, c := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '[', '{':
			if n := len(seen); n > 0 && !seen[n-1] {
				seen[n-1] = true
				if counts[n-1] >= 0 {
					counts[n-1]++
				}
			}
			if c == '[' {
				counts = append(counts, 0)
			} else {
				counts = append(counts, -1)
			}
			seen = append(seen, false)
			continue
		case ']', '}':
			if n := len(counts); n > 0 {
				longest = max(longest, counts[n-1])
				counts, seen = counts[:n-1], seen[:n-1]
			}
			continue
		case ',':
			if n := len(seen); n > 0 {
				seen[n-1] = false
			}
			continue
		case ':':
			continue
		}
		// The start of a value: a string, number, true, false or null.
		if n := len(seen); n > 0 && !seen[n-1] {
			seen[n-1] = true
			if counts[n-1] >= 0 {
				counts[n-1]++
			}
		}
		if c == '"' {
			inString = true
		}
	}
	return longest
}
