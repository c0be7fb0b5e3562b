#include "aql.h"

#include <gtest/gtest.h>
