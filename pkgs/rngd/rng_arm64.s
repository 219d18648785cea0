#include "textflag.h"

// func rndr() (word uint64, ok bool)
TEXT ·rndr(SB), NOSPLIT, $0-9
	MRS  RNDR, R0
	CSET NE, R1
	MOVD R0, word+0(FP)
	MOVB R1, ok+8(FP)
	RET
