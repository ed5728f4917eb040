/* ABI size checks run at compile time via skbtracer_abi.h. */
#include "skbtracer_abi.h"
