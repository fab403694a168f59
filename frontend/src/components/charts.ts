// ECharts: register only what the dashboard draws.
import { use } from 'echarts/core'
import { CanvasRenderer } from 'echarts/renderers'
import { BarChart, LineChart, PieChart } from 'echarts/charts'
import { DatasetComponent, GridComponent, LegendComponent, TooltipComponent } from 'echarts/components'

use([CanvasRenderer, BarChart, LineChart, PieChart, GridComponent, TooltipComponent, LegendComponent, DatasetComponent])

export const PALETTE = ['#165dff', '#14c9c9', '#f7ba1e', '#722ed1', '#f77234', '#0fc6c2', '#eb0aa4', '#00b42a', '#86909c', '#3491fa']
