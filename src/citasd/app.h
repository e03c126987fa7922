/* citasd's route table and module list (app.c), the only place that knows every module. */
#ifndef CITAS_SERVER_APP_H
#define CITAS_SERVER_APP_H

#include "citas/server.h"

extern const struct server_app citasd_app;

#endif
