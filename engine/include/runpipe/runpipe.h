/* runpipe — the one include for plugin authors. */
#ifndef RUNPIPE_H
#define RUNPIPE_H

#define RUNPIPE_VERSION "0.1.0"

#include "artifact.h"
#include "data.h"
#include "error.h"
#include "io.h"
#include "log.h"
#include "loss.h"
#include "nn.h"
#include "node.h"
#include "optim.h"
#include "plugin.h"
#include "rng.h"
#include "strbuf.h"
#include "tensor.h"

#endif
